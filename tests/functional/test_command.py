"""The command driver, run locally and over SSH against a real sshd.

The "hypervisor" is a state file: power on writes ``on`` into it, off
writes ``off``, status reads it; the file's path is a driver_info field
(``state_file``), so every command is a template. The sshd of
tests/fixtures/sshd.py runs on this machine as root, so a file written
over SSH is visible to the test. Every test runs its commands both ways
where the two paths differ (local ``sh -c`` versus the remote shell of
ssh, which receives the command as one string).

What is proven here, at the processes' side: no node field can add shell
syntax (a payload that would create a file creates nothing and arrives
verbatim), several commands share one SSH connection (sshd logs one
``Accepted publickey``), a hung command is killed with its children at
the deadline, the secret reaches the command as an environment variable
and never appears in any process's argv, and each failure is the
taxonomy's error with a message saying what to fix.
"""

import os
import socket
import stat
import threading
import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import controllers
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import params
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import command as command_module
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures.sshd import free_tcp_port

SECRET = "Hyp3rvisor-Token-91x"
WHERE = ["local", "ssh"]


@pytest.fixture(autouse=True)
def command_config(config):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__allow_local_commands=True,
           command__command_retry_timeout=0.0, command__command_timeout=15.0,
           command__ssh_connect_timeout=5)
    yield config
    # Masters outlive their commands by ssh_control_persist; end this test's now.
    ssh.close_masters()


def target_info(request, where):
    return request.getfixturevalue("sshd").driver_info() if where == "ssh" else {}


@pytest.fixture(params=WHERE)
def base(request):
    """driver_info that runs commands locally, or over SSH to the test sshd."""
    return target_info(request, request.param)


@pytest.fixture
def hypervisor(tmp_path):
    """driver_info fields of the state-file hypervisor (commands + paths)."""
    state = tmp_path / "vm.state"
    history = tmp_path / "vm.history"
    state.write_text("off\n")
    return {
        "state_file": str(state),
        "history": str(history),
        "command_power_on": "echo on > {state_file} && echo on {name} >> {history}",
        "command_power_off": "echo off > {state_file} && echo off {name} >> {history}",
        "command_power_status": "cat {state_file}",
    }


def make_task(driver_info, name="vm1", **fields):
    return StandaloneTask.for_driver("command", driver_info=driver_info, name=name, **fields)


def read(path):
    with open(path) as handle:
        return handle.read()


def lines(path):
    return read(path).splitlines() if os.path.exists(path) else []


# -- power ---------------------------------------------------------------------------

def test_on_off_status_reboot(base, hypervisor):
    task = make_task(dict(hypervisor, **base, command_reboot_delay=0.05))
    power = task.driver.power
    power.validate(task)
    assert power.get_power_state(task) == PowerState.OFF

    power.set_power_state(task, PowerState.ON)
    assert read(hypervisor["state_file"]) == "on\n"
    assert power.get_power_state(task) == PowerState.ON
    power.set_power_state(task, "power off")
    assert power.get_power_state(task) == PowerState.OFF

    power.reboot(task)  # no command_reboot: off, delay, on
    assert power.get_power_state(task) == PowerState.ON
    assert lines(hypervisor["history"]) == ["on vm1", "off vm1", "off vm1", "on vm1"]
    assert task.node.driver_internal_info[command_module.STATE_KEY] == "power on"


def test_reboot_command(base, hypervisor, tmp_path):
    reboots = tmp_path / "reboots"
    info = dict(hypervisor, **base, reboots=str(reboots),
                command_reboot="echo on > {state_file} && echo cycled {uuid} >> {reboots}")
    task = make_task(info)
    task.driver.power.set_power_state(task, PowerState.REBOOT)
    assert task.driver.power.get_power_state(task) == PowerState.ON
    assert lines(str(reboots)) == ["cycled %s" % task.node.uuid]
    assert lines(hypervisor["history"]) == []  # not off + on


def test_status_by_exit_code(base, hypervisor):
    info = dict(hypervisor, **base,
                command_power_status='test "$(cat {state_file})" = on',
                command_status_on_exit_code=0)
    task = make_task(info)
    power = task.driver.power
    assert power.get_power_state(task) == PowerState.OFF  # exit 1: any other code
    power.set_power_state(task, PowerState.ON)
    assert power.get_power_state(task) == PowerState.ON

    # With an explicit off code, a third code is an error naming both.
    info.update(command_power_status="grep -q on {state_file} || exit 3",
                command_status_on_exit_code=0, command_status_off_exit_code=1)
    task = make_task(info)
    assert task.driver.power.get_power_state(task) == PowerState.ON
    task.driver.power.set_power_state(task, PowerState.OFF)
    with pytest.raises(exception.DriverActionError) as err:
        task.driver.power.get_power_state(task)
    assert "exited 3" in str(err.value) and "command_status_off_exit_code (1)" in str(err.value)


def test_status_by_pattern(base, hypervisor):
    """virsh-like output: the on pattern is searched first, then the off one."""
    info = dict(hypervisor, **base,
                command_power_on="echo 'State: running' > {state_file}",
                command_power_off="echo 'State: shut off' > {state_file}",
                command_status_on_pattern=r"^state:\s+running$",
                command_status_off_pattern=r"shut off|paused")
    task = make_task(info)
    power = task.driver.power
    power.set_power_state(task, PowerState.ON)
    assert power.get_power_state(task) == PowerState.ON
    power.set_power_state(task, PowerState.OFF)
    assert power.get_power_state(task) == PowerState.OFF
    with open(hypervisor["state_file"], "w") as handle:
        handle.write("State: crashed\n")
    with pytest.raises(exception.DriverActionError) as err:
        power.get_power_state(task)
    assert "State: crashed" in str(err.value)
    assert "command_status_on_pattern" in str(err.value)


def test_without_status_command_the_recorded_state_is_reported(base, hypervisor, caplog):
    info = dict(hypervisor, **base)
    del info["command_power_status"]
    task = make_task(info)
    assert task.driver.power.get_power_state(task) == PowerState.ERROR
    assert "set command_power_status" in caplog.text
    task.driver.power.set_power_state(task, PowerState.ON)
    assert task.driver.power.get_power_state(task) == PowerState.ON


# -- injection -----------------------------------------------------------------------

PAYLOADS = [
    "x; touch {pwned}",
    "$(touch {pwned})",
    "`touch {pwned}`",
    "x' ; touch {pwned} ; echo '",
    'x" ; touch {pwned} ; echo "',
    "x\ntouch {pwned}",
    "x && touch {pwned} || touch {pwned}",
    "x | touch {pwned}",
    "'$(touch {pwned})'\\",
    "-n; touch {pwned} #",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_shell_injection_through_name_or_fields(base, tmp_path, payload):
    """A node named ``x; touch <pwned>`` (and friends) runs nothing but the template.

    The value also arrives verbatim, as one word: printf prints it between
    brackets exactly as it was set. Over SSH the command is one string for
    the remote shell, quoted once, so the result is the same.
    """
    pwned = tmp_path / "pwned"
    value = payload.format(pwned=pwned)
    out = tmp_path / "out"
    info = dict(base, out=str(out), vm=value,
                command_power_on="printf '[%s]\\n' {name} {vm} > {out}",
                command_power_off="true", command_power_status="echo on")
    task = make_task(info, name=value)
    task.driver.power.set_power_state(task, PowerState.ON)
    assert read(out) == "[%s]\n[%s]\n" % (value, value)
    assert not pwned.exists()


def test_placeholder_inside_quotes_is_refused(base, tmp_path):
    """Quotes around a placeholder would undo its quoting: refused, nothing runs."""
    pwned = tmp_path / "pwned"
    task = make_task(dict(base, command_power_on="echo '{name}' > /dev/null",
                          command_power_off='echo "{name}"'),
                     name="'; touch %s; '" % pwned)
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    message = str(err.value)
    assert "command_power_on puts {name} inside single quotes" in message
    assert "command_power_off puts {name} inside double quotes" in message
    assert not pwned.exists()


# -- SSH connection reuse --------------------------------------------------------------

def test_commands_share_one_ssh_connection(sshd, hypervisor, config):
    task = make_task(dict(hypervisor, **sshd.driver_info()))
    power = task.driver.power
    offset = sshd.log_size()
    for _ in range(3):
        power.set_power_state(task, PowerState.ON)
        assert power.get_power_state(task) == PowerState.ON
    log = sshd.log_since(offset)
    assert log.count("Starting session: command") == 6
    assert sshd.accepted_since(offset) == 1, log

    target = power._target(power.parse_driver_info(task))
    assert ssh.master_running(target)
    socket_path = ssh.control_path(target)
    under_state = os.path.join(os.environ["HWDRIVERS_STATE_PATH"], "ssh")
    if len(under_state) <= ssh._SOCKET_ROOM:  # else a private dir in /tmp (unit-tested)
        assert socket_path.startswith(under_state + "/")
    assert stat.S_ISSOCK(os.lstat(socket_path).st_mode)
    assert stat.S_IMODE(os.stat(os.path.dirname(socket_path)).st_mode) == 0o700

    ssh.close_masters()
    assert not ssh.master_running(target)


def test_without_control_persist_every_command_connects(sshd, hypervisor, config):
    config(command__ssh_control_persist=0)
    task = make_task(dict(hypervisor, **sshd.driver_info()))
    offset = sshd.log_size()
    for _ in range(3):
        task.driver.power.get_power_state(task)
    assert sshd.accepted_since(offset) == 3


# -- timeouts ------------------------------------------------------------------------

def test_hung_local_command_is_killed_with_its_children(tmp_path, hypervisor, config):
    config(command__command_timeout=1.0)
    pids = tmp_path / "pids"
    info = dict(hypervisor, pids=str(pids),
                command_power_on="sleep 60 & echo $! > {pids}; sleep 60")
    task = make_task(info)
    started = time.monotonic()
    with pytest.raises(exception.DriverActionError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 4.0
    assert "within 1.0s (command_timeout)" in str(err.value)
    child = int(read(pids))
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)  # the background sleep died with the group


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_hung_ssh_command_times_out_and_is_killed_remotely(sshd, hypervisor, tmp_path):
    """The node's command_timeout wins over [command]; the connection stays usable.

    The remote ``timeout`` kills the remote command's process group a
    second after the local deadline (sshd runs on this machine, so the
    test can see the remote processes).
    """
    pids = tmp_path / "remote-pids"
    info = dict(hypervisor, **sshd.driver_info(), pids=str(pids), command_timeout=1.0,
                command_power_status="sleep 60 & echo $$ $! > {pids}; wait")
    task = make_task(info)
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as err:
        task.driver.power.get_power_state(task)
    assert time.monotonic() - started < 4.0
    assert "did not finish within 1.0s (command_timeout)" in str(err.value)
    remote = [int(pid) for pid in read(pids).split()]
    deadline = time.monotonic() + 6
    while any(map(_alive, remote)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, remote))
    offset = sshd.log_size()
    task = make_task(dict(info, command_power_status="echo on"))
    assert task.driver.power.get_power_state(task) == PowerState.ON
    assert sshd.accepted_since(offset) == 0  # the same master connection


# -- the secret ------------------------------------------------------------------------

@pytest.fixture
def argv_shim(tmp_path, config):
    """An ``ssh`` that records its argv, then runs the real one."""
    log = tmp_path / "ssh-argv"
    shim = tmp_path / "ssh-shim"
    shim.write_text('#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done >> %s\n'
                    'echo ---- >> %s\nexec ssh "$@"\n' % (log, log))
    shim.chmod(0o755)
    config(command__ssh_command=str(shim))
    return log


def test_secret_reaches_command_as_env_never_argv(base, tmp_path, argv_shim, caplog):
    caplog.set_level("DEBUG")
    seen, argvs = tmp_path / "seen", tmp_path / "argvs"
    info = dict(base, command_secret=SECRET, seen=str(seen), argvs=str(argvs),
                command_power_on=(
                    'printf %s "$HWDRIVERS_COMMAND_SECRET" > {seen}; '
                    "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; "
                    "done > {argvs} 2>/dev/null"),
                command_power_off="true", command_power_status="echo on")
    task = make_task(info)
    task.driver.power.set_power_state(task, PowerState.ON)
    assert read(seen) == SECRET
    every_argv = read(argvs)
    assert "HWDRIVERS_COMMAND_SECRET" in every_argv  # we did see the running command
    assert SECRET not in every_argv
    if "command_host" in base:
        assert argv_shim.exists() and SECRET not in read(argv_shim)
    assert SECRET not in caplog.text


def test_secret_masked_in_errors(base, caplog):
    caplog.set_level("DEBUG")
    info = dict(base, command_secret=SECRET,
                command_power_on='echo "token is $HWDRIVERS_COMMAND_SECRET" >&2; exit 3',
                command_power_off="true",
                command_power_status='echo "$HWDRIVERS_COMMAND_SECRET"')
    task = make_task(info)
    with pytest.raises(exception.DriverActionError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "exited 3: token is %s" % params.MASK in str(err.value)
    with pytest.raises(exception.DriverActionError) as err:
        task.driver.power.get_power_state(task)
    assert params.MASK in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in caplog.text


def test_template_cannot_name_the_secret(base):
    task = make_task(dict(base, command_secret=SECRET, command_power_on="login {command_secret}",
                          command_power_off="true"))
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.power.validate(task)
    assert "names the secret {command_secret}" in str(err.value)
    assert "$HWDRIVERS_COMMAND_SECRET" in str(err.value) and SECRET not in str(err.value)


# -- failures and the taxonomy -----------------------------------------------------------

def test_failed_command_is_an_action_error_with_stderr_tail(base):
    info = dict(base, command_power_on="for i in $(seq 1 200); do echo line $i >&2; done; "
                                       "exit 4", command_power_off="true")
    task = make_task(info)
    with pytest.raises(exception.DriverActionError) as err:
        retry.run(task, task.driver.power, task.driver.power.set_power_state, PowerState.ON)
    message = str(err.value)
    assert "command_power_on" in message and "exited 4" in message
    assert "line 200" in message and "line 1\n" not in message and len(message) < 700
    assert "node vm1" in message
    expected = ("ssh:root@127.0.0.1:%s" % base["command_port"] if base else "local")
    assert "controller %s" % expected in message


def test_command_not_found_is_a_settings_error(base):
    task = make_task(dict(base, command_power_on="no-such-hypervisor-tool start",
                          command_power_off="true"))
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "exited 127" in str(err.value) and "fix command_power_on" in str(err.value)


def ssh_task(sshd, hypervisor, **overrides):
    return make_task(dict(hypervisor, **sshd.driver_info(**overrides)))


def test_key_not_authorized_is_an_auth_error(sshd, hypervisor, config):
    config(command__command_retry_timeout=5.0)  # proves auth errors are not retried
    task = ssh_task(sshd, hypervisor, command_ssh_key=sshd.other_key)
    started = time.monotonic()
    with pytest.raises(exception.DriverAuthError) as err:
        retry.run(task, task.driver.power, task.driver.power.get_power_state)
    assert time.monotonic() - started < 3.0
    message = str(err.value)
    assert "refused the SSH key %s" % sshd.other_key in message
    assert "Permission denied" in message and "command_ssh_key" in message


@pytest.mark.parametrize("known", ["wrong", "empty"])
def test_host_key_mismatch_or_unknown_is_a_settings_error(sshd, hypervisor, tmp_path,
                                                         known):
    path = sshd.wrong_known_hosts
    if known == "empty":
        path = str(tmp_path / "known_hosts")
        open(path, "w").close()
    task = ssh_task(sshd, hypervisor, command_known_hosts=path)
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    message = str(err.value)
    assert "not in command_known_hosts (%s) or does not match it" % path in message
    assert "ssh-keyscan" in message and "Host key verification failed" in message
    assert read(hypervisor["state_file"]) == "off\n"  # nothing ran


def test_connection_refused_is_retried_then_a_connection_error(sshd, hypervisor, config):
    config(command__command_retry_timeout=0.6)
    task = ssh_task(sshd, hypervisor, command_port=free_tcp_port())
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as err:
        retry.run(task, task.driver.power, task.driver.power.get_power_state)
    assert 0.6 <= time.monotonic() - started < 5.0
    assert "cannot reach the SSH server" in str(err.value)
    assert "Connection refused" in str(err.value) and "attempts" in str(err.value)


def test_server_that_never_answers_times_out(sshd, hypervisor, config):
    config(command__ssh_connect_timeout=1)
    with socket.socket() as silent:  # the kernel accepts; nobody speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        task = ssh_task(sshd, hypervisor, command_port=silent.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(exception.DriverConnectionError) as err:
            task.driver.power.get_power_state(task)
    assert time.monotonic() - started < 5.0
    assert "timed out" in str(err.value)


def test_ssh_client_missing_is_tool_missing(sshd, hypervisor, config):
    config(command__ssh_command="/nonexistent/bin/ssh")
    task = ssh_task(sshd, hypervisor)
    with pytest.raises(exception.DriverToolMissing) as err:
        task.driver.power.get_power_state(task)
    assert "install the OpenSSH client" in str(err.value)


def test_local_commands_refused_unless_allowed(hypervisor, config, tmp_path):
    config(command__allow_local_commands=False)
    task = make_task(dict(hypervisor))
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "allow_local_commands = true" in str(err.value)
    assert lines(hypervisor["history"]) == []


# -- one controller, one command at a time ---------------------------------------------

def test_nodes_of_one_ssh_host_queue_behind_each_other(sshd, tmp_path):
    """[command] max_concurrency defaults to 1: the host sees one command at a time."""
    spans = tmp_path / "spans"
    limiter = controllers.ControllerLimiter()
    tasks = [make_task(dict(sshd.driver_info(), spans=str(spans),
                            command_power_on="true", command_power_off="true",
                            command_power_status=("echo start {name} $(date +%s.%N) >> {spans};"
                                                  " sleep 0.2; echo end {name} $(date +%s.%N)"
                                                  " >> {spans}; echo on")),
                       name="vm%d" % i) for i in range(4)]
    key = tasks[0].driver.power.controller_key(tasks[0])
    assert key == "ssh:root@127.0.0.1:%d" % sshd.port
    errors = []

    def one(task):
        try:
            retry.run(task, task.driver.power, task.driver.power.get_power_state,
                      gate=limiter.slot)
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(t,)) for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    events = sorted((float(t), kind) for kind, _, t in (ln.split() for ln in lines(str(spans))))
    assert len(events) == 8
    assert [kind for _, kind in events] == ["start", "end"] * 4  # never two at once
    assert limiter.peak(key) == 1


# -- through the conductor ---------------------------------------------------------------

CTX = hw_context.get_admin_context()


def test_through_the_conductor_manager(database, sshd, hypervisor, tmp_path):
    manager = manager_mod.ConductorManager()
    pwned = tmp_path / "pwned"
    info = dict(hypervisor, **sshd.driver_info(), command_secret=SECRET,
                command_reboot_delay=0.1, vm="$(touch %s)" % pwned)
    info["command_power_on"] += " && echo {vm} > {history}.vm"
    node = manager.create_node(CTX, {"driver": "command", "name": "vm-7",
                                     "driver_info": info})
    assert manager.change_power_state(CTX, "vm-7", "power on") == PowerState.ON
    record = db_api.get_node(node.id)
    assert record["power_state"] == "power on" and record["last_error"] is None
    assert record["reservation"] is None
    assert manager.get_power_state(CTX, "vm-7") == PowerState.ON
    assert manager.change_power_state(CTX, "vm-7", "rebooting") == PowerState.ON
    assert manager.change_power_state(CTX, "vm-7", "power off") == PowerState.OFF
    assert lines(hypervisor["history"]) == ["on vm-7", "off vm-7", "on vm-7", "off vm-7"]
    assert read(hypervisor["history"] + ".vm") == "$(touch %s)\n" % pwned
    assert not pwned.exists()
    view = manager.node_view(manager.get_node(CTX, "vm-7"))
    assert view["driver_info"]["command_secret"] == params.MASK

    # A failing command is recorded as last_error, secret-free, state read back.
    manager.update_node(CTX, "vm-7", {"driver_info/command_power_on":
                                      'echo "no $HWDRIVERS_COMMAND_SECRET" >&2; exit 2'})
    with pytest.raises(exception.DriverActionError):
        manager.change_power_state(CTX, "vm-7", "power on")
    record = db_api.get_node(node.id)
    assert "exited 2: no %s" % params.MASK in record["last_error"]
    assert "controller ssh:root@127.0.0.1:%d" % sshd.port in record["last_error"]
    assert SECRET not in record["last_error"]
    assert record["power_state"] == "power off"

    # The node name is checked at enrolment: a name with shell syntax never lands.
    with pytest.raises(exception.InvalidParameterValue, match="field name"):
        manager.create_node(CTX, {"driver": "command", "name": "x; touch %s" % pwned,
                                  "driver_info": info})
    assert not pwned.exists()
