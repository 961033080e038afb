"""Unit tests of the command driver: templates, validation, error mapping.

No sshd here (tests/functional/test_command.py has it): ssh's failures are
fed in as the (exit code, stderr) ssh really prints, and the process
runner is replaced where a test needs a failure that cannot be staged
(a missing binary, a timeout). Every refusal must name the field and the
fix, list every problem at once, and run nothing.
"""

import getpass
import os
import shlex
import subprocess
import time

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import command
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask

SECRET = "Unit-Secret-5150"


@pytest.fixture(autouse=True)
def command_config(config):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__allow_local_commands=True)
    return config


@pytest.fixture
def no_process(monkeypatch):
    """Fail the test if anything tries to run a process."""
    def refuse(*args, **kwargs):
        raise AssertionError("a process was started: %r" % (args,))
    monkeypatch.setattr(ssh, "run_process", refuse)


def make_task(name="vm1", **driver_info):
    info = {"command_power_on": "echo on", "command_power_off": "echo off"}
    info.update(driver_info)
    info = {k: v for k, v in info.items() if v is not None}
    return StandaloneTask.for_driver("command", driver_info=info, name=name)


def refusal(task):
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.power.validate(task)
    return err.value


# -- templates -----------------------------------------------------------------------

@pytest.mark.parametrize("template, names", [
    ("virsh start {vm}", ["vm"]),
    ("echo {name} {uuid} {name}", ["name", "uuid", "name"]),
    ('test "$(cat {state_file})" = on', ["state_file"]),  # $(...) parses words again
    ("echo $( (echo {a}) ) 'quoted' {b}", ["a", "b"]),
    ("echo 'x'{a} \"y\" {b}", ["a", "b"]),
    ("cat <<< {a}", ["a"]),
    ("echo {{literal}} ${{HOME}} {a}", ["a"]),
    ('echo "\\\\" {a}', ["a"]),  # an escaped backslash closes nothing
    ("echo done", []),
])
def test_placeholders_accepted(template, names):
    assert command.placeholders(template) == names


@pytest.mark.parametrize("template, fragment", [
    ("echo '{name}'", "inside single quotes"),
    ('echo "{name}"', "inside double quotes"),
    ("echo \"$(echo \"{name}\")\"", "inside double quotes"),
    ("echo $'{name}'", "inside single quotes"),
    ("echo `cat {name}`", "inside backticks: write $(...)"),
    ("echo \\{name}", "backslash right before {name}"),
    ("echo ${name}", "puts $ right before {name}"),
    ("cat <<EOF\n{name}\nEOF", "here-document"),
    ("echo {name!r}", "use a bare {field_name}"),
    ("echo {name:>9}", "use a bare {field_name}"),
    ("echo {a.b}", "use a bare {field_name}"),
    ("echo {a[0]}", "use a bare {field_name}"),
    ("echo {}", "use a bare {field_name}"),
    ("echo {name", "write literal braces as {{ and }}"),
    ("echo }", "write literal braces as {{ and }}"),
])
def test_placeholders_refused(template, fragment):
    with pytest.raises(ValueError, match=None) as err:
        command.placeholders(template)
    assert fragment in str(err.value)


@pytest.mark.parametrize("value", [
    "x; touch /tmp/p", "$(id)", "`id`", "a'b", 'a"b', "a\nb", "-rf", "", "a\\", "{x}",
    "it's \"$HOME\" `x` $(y) \\ ; | & > <",
])
def test_render_makes_each_value_one_word(value):
    rendered = command.render("tool --vm {vm} --then {vm} end", {"vm": value})
    assert shlex.split(rendered) == ["tool", "--vm", value, "--then", value, "end"]
    assert subprocess.run(["sh", "-c", "printf %s " + command.render("{v}", {"v": value})],
                          capture_output=True, text=True, check=True).stdout == value


# -- validation ------------------------------------------------------------------------

def test_every_problem_is_listed_at_once_and_nothing_runs(no_process, tmp_path):
    task = make_task(
        command_power_on="start '{name}'",
        command_power_off="stop {vm}",
        command_reboot="cycle {command_secret}",
        command_secret=SECRET,
        command_status_on_pattern="(unclosed",
        command_status_on_exit_code=0,
        command_port=2222,
    )
    err = refusal(task)
    message = str(err)
    for fragment in [
        "command_power_on puts {name} inside single quotes",
        "command_power_off uses {vm}, which is not in driver_info",
        "command_reboot names the secret {command_secret}",
        "command_status_on_pattern is not a valid regular expression",
        "need command_power_status",
        "exclude each other",
        "command_port only apply with command_host",
        "hwdrivers node set <node> --driver-info",
    ]:
        assert fragment in message, fragment
    assert len(err.errors) == 7
    assert SECRET not in message
    with pytest.raises(exception.InvalidParameterValue):
        task.driver.power.set_power_state(task, PowerState.ON)  # nothing ran (no_process)


def test_missing_commands_are_named(no_process):
    task = StandaloneTask.for_driver("command", driver_info={})
    with pytest.raises(exception.MissingParameterValue) as err:
        task.driver.power.validate(task)
    assert "command_power_on" in str(err.value) and "command_power_off" in str(err.value)


def test_local_commands_need_the_option(no_process, command_config):
    command_config(command__allow_local_commands=False)
    assert "[command] allow_local_commands = true" in str(refusal(make_task()))
    make_task(command_host="192.0.2.1").driver.power.validate(
        make_task(command_host="192.0.2.1"))  # over SSH: always allowed


@pytest.mark.parametrize("field, value, fragment", [
    ("command_user", "root; id", "command_user 'root; id' must be letters"),
    ("command_ssh_key", "/no/such/key", "no file /no/such/key on the conductor host"),
    ("command_known_hosts", "relative/known_hosts", "must be an absolute path"),
    ("command_known_hosts", "/tmp/a b", "must be an absolute path"),
    ("command_host", "-oProxyCommand=id", "command_host"),
    ("command_port", 70000, "command_port"),
    ("command_timeout", 0, "command_timeout"),
    ("command_status_on_exit_code", 255, "command_status_on_exit_code"),
])
def test_bad_ssh_and_number_fields(no_process, field, value, fragment):
    info = {"command_host": "192.0.2.1", field: value}
    if field == "command_status_on_exit_code":
        info["command_power_status"] = "status"
    assert fragment in str(refusal(make_task(**info)))


def test_values_that_no_command_line_can_carry(no_process):
    err = refusal(make_task(command_power_on="start {vm}", vm="a\0b",
                            command_secret="line1\nline2"))
    assert "{vm}, whose value holds a NUL byte" in str(err)
    assert "command_secret holds a line break" in str(err)
    assert "line1" not in str(err)


def test_template_cannot_name_another_interfaces_secret(no_process, monkeypatch):
    task = make_task(command_power_on="start {vm_password}", vm_password="x")
    monkeypatch.setattr(type(task.driver), "schema", params.Schema(
        params.Param("vm_password", "a secret of another interface", secret=True)),
        raising=False)
    assert "names the secret {vm_password}" in str(refusal(task))


def test_properties_and_masking():
    power = make_task().driver.power
    props = power.get_properties()
    for field in ("command_power_on", "command_power_status", "command_host",
                  "command_known_hosts", "command_timeout", "command_secret"):
        assert field in props
    assert "Secret." in props["command_secret"]
    masked = power.driver_info_schema.mask({"command_secret": SECRET, "command_host": "h"})
    assert masked == {"command_secret": params.MASK, "command_host": "h"}


# -- controllers -------------------------------------------------------------------------

def test_controller_keys_and_limits(command_config):
    power = make_task().driver.power
    assert power.controller_key(make_task()) == "local"
    assert power.controller_key(make_task(command_host="192.0.2.9", command_user="ops",
                                          command_port=2200)) == "ssh:ops@192.0.2.9:2200"
    assert power.controller_key(make_task(command_host="hv1")) == (
        "ssh:%s@hv1:22" % getpass.getuser())
    assert power.controller_key(make_task(command_host="hv1", command_port="x")) == "ssh:hv1"
    assert power.controller_limits() == (1, 0.0)
    command_config(command__max_concurrency=3, command__min_command_interval=0.5)
    assert power.controller_limits() == (3, 0.5)


# -- ssh's failures ---------------------------------------------------------------------

TARGET = ssh.Target("192.0.2.7", 2222, "ops", "/keys/id", "/etc/hw/known_hosts")


@pytest.mark.parametrize("stderr, cls, fragment", [
    ("ops@192.0.2.7: Permission denied (publickey).", exception.DriverAuthError,
     "refused the SSH key /keys/id"),
    ("Received disconnect from 192.0.2.7 port 2222:2: Too many authentication failures",
     exception.DriverAuthError, "check command_user and command_ssh_key"),
    ("@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\n...\nHost key verification "
     "failed.", exception.DriverSettingsError, "add the host's key to that file"),
    ("No ED25519 host key is known for [192.0.2.7]:2222 and you have requested strict "
     "checking.\nHost key verification failed.", exception.DriverSettingsError,
     "not in command_known_hosts (/etc/hw/known_hosts)"),
    ("WARNING: UNPROTECTED PRIVATE KEY FILE!\nbad permissions", exception.DriverSettingsError,
     "chmod 600"),
    ("ssh: connect to host 192.0.2.7 port 2222: Connection refused",
     exception.DriverConnectionError, "cannot reach the SSH server 192.0.2.7:2222"),
    ("Connection timed out during banner exchange", exception.DriverConnectionError,
     "cannot reach"),
    ("ssh: connect to host 192.0.2.7 port 2222: No route to host",
     exception.DriverConnectionError, "cannot reach"),
    ("ssh: Could not resolve hostname hv9: Name or service not known",
     exception.DriverConnectionError, "cannot resolve command_host"),
])
def test_ssh_failures_map_to_the_taxonomy(stderr, cls, fragment):
    with pytest.raises(cls) as err:
        ssh.raise_for_ssh_failure(ssh.Result(255, "", stderr + "\n"), TARGET)
    assert fragment in str(err.value)
    assert "(ssh: " in str(err.value)


@pytest.mark.parametrize("code, stderr", [
    (1, "Permission denied"),  # the remote command's own failure
    (255, "virsh: domain not found"),  # a remote command exiting 255
    (0, ""),
])
def test_not_ssh_failures_pass(code, stderr):
    ssh.raise_for_ssh_failure(ssh.Result(code, "", stderr), TARGET)


def test_client_argv_checks_host_keys_and_reuses_connections(config, tmp_path):
    argv = ssh.client_argv(TARGET, "echo 'a b'; id", timeout=30)
    joined = " ".join(argv)
    for option in ("BatchMode=yes", "StrictHostKeyChecking=yes", "UpdateHostKeys=no",
                   "UserKnownHostsFile=/etc/hw/known_hosts", "GlobalKnownHostsFile=/dev/null",
                   "IdentitiesOnly=yes", "ControlMaster=auto", "ControlPersist=60",
                   "ConnectTimeout=10"):
        assert option in joined, option
    assert argv[-3:] == ["--", "192.0.2.7", "echo 'a b'; id"]  # one remote string
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "ops"
    control = [a for a in argv if a.startswith("ControlPath=")][0].split("=", 1)[1]
    assert control.startswith(str(tmp_path / "state" / "ssh") + "/")
    assert stat_mode(os.path.dirname(control)) == 0o700
    assert "ConnectTimeout=2" in ssh.client_argv(TARGET, "x", timeout=2.5)
    other_key = ssh.client_argv(TARGET._replace(key="/keys/other"), "x", timeout=30)
    assert control not in " ".join(other_key)  # never reuse another identity's master

    config(command__ssh_control_persist=0)
    joined = " ".join(ssh.client_argv(TARGET, "x", timeout=30))
    assert "ControlMaster=no" in joined and "ControlPath=none" in joined


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_missing_ssh_client_warns_at_load(config, caplog):
    power = make_task().driver.power
    power.check_config()
    assert "ssh_command" not in caplog.text
    config(command__ssh_command="/nonexistent/ssh")
    power.check_config()  # local nodes still work: a warning, not a refusal
    assert "[command] ssh_command /nonexistent/ssh is not installed" in caplog.text


def test_control_dir_falls_back_when_state_path_is_too_long(config, tmp_path):
    long_path = tmp_path / ("x" * 90)
    config(state_path=str(long_path))
    directory = ssh.control_dir()
    assert not directory.startswith(str(long_path))
    assert "hwdrivers-ssh-%d-" % os.getuid() in directory
    assert len(ssh.control_path(TARGET)) <= 107 - 17


# -- running: error paths -----------------------------------------------------------------

def fail_with(monkeypatch, error):
    def run(*args, **kwargs):
        raise error
    monkeypatch.setattr(ssh, "run_process", run)


@pytest.mark.parametrize("host, error, cls, fragment", [
    (None, FileNotFoundError(2, "x"), exception.DriverToolMissing, "POSIX shell"),
    ("192.0.2.1", FileNotFoundError(2, "x"), exception.DriverToolMissing,
     "install the OpenSSH client"),
    (None, PermissionError(13, "denied"), exception.DriverToolMissing, "cannot run sh"),
    (None, ssh.ProcessTimeout(2.0, "", "stuck with " + SECRET), exception.DriverActionError,
     "killed it and everything it started: stuck with " + params.MASK),
    ("192.0.2.1", ssh.ProcessTimeout(2.0, "", ""), exception.DriverConnectionError,
     "on root@192.0.2.1:22 did not finish within 2.0s"),
])
def test_run_failures(monkeypatch, host, error, cls, fragment):
    fail_with(monkeypatch, error)
    task = make_task(command_host=host, command_user="root" if host else None,
                     command_timeout=2.0, command_secret=SECRET)
    with pytest.raises(cls) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert fragment in str(err.value)
    assert SECRET not in str(err.value)


def returning(monkeypatch, code, stdout="", stderr=""):
    calls = []

    def run(argv, **kwargs):
        calls.append((argv, kwargs))
        return ssh.Result(code, stdout, stderr)
    monkeypatch.setattr(ssh, "run_process", run)
    return calls


def test_default_timeout_comes_from_config(monkeypatch, command_config):
    command_config(command__command_timeout=7.5)
    calls = returning(monkeypatch, 0)
    task = make_task()
    task.driver.power.set_power_state(task, PowerState.ON)
    assert calls[0][1]["timeout"] == 7.5
    task = make_task(command_timeout=1.5)
    task.driver.power.set_power_state(task, PowerState.ON)
    assert calls[1][1]["timeout"] == 1.5


def test_secret_goes_to_env_locally_and_stdin_over_ssh(monkeypatch):
    calls = returning(monkeypatch, 0)
    task = make_task(command_secret=SECRET)
    task.driver.power.set_power_state(task, PowerState.ON)
    argv, kwargs = calls[0]
    assert argv == ["sh", "-c", "echo on"] and kwargs["env"][command.SECRET_ENV] == SECRET
    assert kwargs["input"] is None
    task = make_task(command_secret=SECRET, command_host="192.0.2.1")
    task.driver.power.set_power_state(task, PowerState.ON)
    argv, kwargs = calls[1]
    assert SECRET not in " ".join(argv) and kwargs["env"] is None
    assert kwargs["input"] == SECRET + "\n"
    assert argv[-1] == ("IFS= read -r HWDRIVERS_COMMAND_SECRET; export "
                        "HWDRIVERS_COMMAND_SECRET; t=; command -v timeout >/dev/null 2>&1 "
                        "&& t='timeout -s KILL 31'; exec $t sh -c 'echo on'")


@pytest.mark.parametrize("with_timeout_binary", [True, False])
def test_remote_command_runs_like_the_local_one(tmp_path, with_timeout_binary):
    """The remote string, run by a login shell, is the template's command verbatim.

    Without ``timeout`` on the host it still runs (unwrapped).
    """
    body = command.render("printf '[%s]' {v}; echo \" $0\"", {"v": "a'b $(x) `y`\n;"})
    remote = command.remote_command(body, 2.5, with_secret=True)
    assert "timeout -s KILL 4'" in remote
    path = os.environ["PATH"] if with_timeout_binary else str(tmp_path)
    if not with_timeout_binary:
        os.symlink("/bin/sh", tmp_path / "sh")
    result = subprocess.run(["/bin/bash", "-c", remote], input="s3\n", capture_output=True,
                            text=True, env={"PATH": path}, timeout=10)
    assert result.stdout == "[a'b $(x) `y`\n;] sh\n", result.stderr


@pytest.mark.parametrize("code, stdout, info, expected", [
    (0, "on\n", {}, PowerState.ON),
    (0, " OFF \n", {}, PowerState.OFF),
    (0, "Domain: vm1\nState: running\n", {"command_status_on_pattern": "running",
                                          "command_status_off_pattern": ".*"}, PowerState.ON),
    (0, "State: shut off\n", {"command_status_on_pattern": "running",
                              "command_status_off_pattern": ".*"}, PowerState.OFF),
    (0, "", {"command_status_on_exit_code": 0}, PowerState.ON),
    (1, "", {"command_status_on_exit_code": 0}, PowerState.OFF),
    (3, "", {"command_status_on_exit_code": 3, "command_status_off_exit_code": 4},
     PowerState.ON),
    (4, "", {"command_status_on_exit_code": 3, "command_status_off_exit_code": 4},
     PowerState.OFF),
])
def test_status_parsing(monkeypatch, code, stdout, info, expected):
    returning(monkeypatch, code, stdout)
    task = make_task(command_power_status="status", **info)
    assert task.driver.power.get_power_state(task) == expected


@pytest.mark.parametrize("code, stdout, info, cls, fragment", [
    (0, "unknown", {}, exception.DriverActionError, "matches neither"),
    (2, "on", {}, exception.DriverActionError, "command_power_status exited 2"),
    (127, "", {"command_status_on_exit_code": 0}, exception.DriverSettingsError,
     "command not found or not executable"),
    (126, "", {"command_status_on_exit_code": 0}, exception.DriverSettingsError,
     "fix command_power_status"),
    (255, "", {"command_status_on_exit_code": 0}, exception.DriverActionError,
     "neither command_status_on_exit_code (0)"),
    (5, "", {"command_status_on_exit_code": 0, "command_status_off_exit_code": 1},
     exception.DriverActionError, "command_status_off_exit_code (1)"),
])
def test_status_failures(monkeypatch, code, stdout, info, cls, fragment):
    returning(monkeypatch, code, stdout, "it broke: " + SECRET)
    task = make_task(command_power_status="status", command_secret=SECRET, **info)
    with pytest.raises(cls) as err:
        task.driver.power.get_power_state(task)
    assert fragment in str(err.value)
    assert SECRET not in str(err.value)


def test_remote_exit_255_with_secret_in_stderr_is_redacted(monkeypatch):
    returning(monkeypatch, 255, "", "%s\nPermission denied (publickey)." % SECRET)
    task = make_task(command_host="192.0.2.1", command_secret=SECRET)
    with pytest.raises(exception.DriverAuthError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert SECRET not in str(err.value)


def test_supported_states_and_refused_targets(monkeypatch):
    returning(monkeypatch, 0)
    task = make_task()
    assert task.driver.power.get_supported_power_states(task) == [
        PowerState.ON, PowerState.OFF, PowerState.REBOOT]
    with pytest.raises(exception.InvalidPowerState, match="supported: power on"):
        task.driver.power.set_power_state(task, PowerState.SOFT_OFF)


def test_run_process_kills_the_group_at_the_deadline(tmp_path):
    started = time.monotonic()
    with pytest.raises(ssh.ProcessTimeout) as err:
        ssh.run_process(["sh", "-c", "echo partial; sleep 30 & sleep 30"], timeout=0.5)
    assert time.monotonic() - started < 3.0
    assert err.value.stdout == "partial\n"
    result = ssh.run_process(["sh", "-c", "cat; echo err >&2; exit 3"], input="in",
                             timeout=5)
    assert result == ssh.Result(3, "in", "err\n")
