"""The command driver, run locally and over SSH against a real sshd.

The "hypervisor" is a state file: power on writes ``on`` into it, off
writes ``off``, status reads it. The commands are an operator's profile
(``[command_profile:hv]``, defined per test) whose placeholders
``{state_file}`` and ``{history}`` each node fills in its driver_info. The
sshd of tests/fixtures/sshd.py runs on this machine as root, so a file
written over SSH is visible to the test. Every test runs its commands both
ways where the two paths differ (local ``sh -c`` versus the remote shell of
ssh, which receives the command as one string).

What is proven here, at the processes' side: no node field can add shell
syntax (a payload that would create a file creates nothing and arrives
verbatim; a placeholder after a ``#`` comment is refused), several
commands share one SSH connection (sshd logs one ``Accepted publickey``), a
hung command is killed with its children at the deadline, one operation
against an SSH port that never answers or is closed ends within
``command_retry_timeout`` plus one command timeout, local commands see
none of the conductor's environment, the secret reaches the command as an
environment variable and never appears in any process's argv, inline
templates run only when the operator opted in, and each failure is the
taxonomy's error with a message saying what to fix.
"""

import os
import re
import socket
import stat
import threading
import time

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import controllers
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conf import command_profile
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from hwdrivers.drivers import params
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import command as command_module
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures.sshd import free_tcp_port

CONF = hw_conf.CONF
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


@pytest.fixture(params=WHERE)
def where(request):
    """Profile options that run commands locally, or over SSH to the test sshd."""
    if request.param == "ssh":
        return request.getfixturevalue("sshd").profile_options()
    return {}


class Hypervisor:
    """The state-file hypervisor: a profile's commands and a node's values."""

    def __init__(self, tmp_path):
        self.state_file = str(tmp_path / "vm.state")
        self.history = str(tmp_path / "vm.history")
        with open(self.state_file, "w") as handle:
            handle.write("off\n")
        self.commands = {
            "power_on": "echo on > {state_file} && echo on {name} >> {history}",
            "power_off": "echo off > {state_file} && echo off {name} >> {history}",
            "power_status": "cat {state_file}",
        }
        self.values = {"state_file": self.state_file, "history": self.history}


@pytest.fixture
def hypervisor(tmp_path):
    return Hypervisor(tmp_path)


def node(options, values, name="vm1", profile="hv", **driver_info):
    """Define profile ``profile`` with ``options``; a task for a node selecting it."""
    options = {k: v for k, v in options.items() if v is not None}
    command_profile.register_profile(CONF, profile, **options)
    info = dict(values, command_profile=profile, **driver_info)
    return StandaloneTask.for_driver("command", driver_info=info, name=name)


def hv_node(hypervisor, where, name="vm1", **options):
    return node(dict(hypervisor.commands, **where, **options), hypervisor.values, name=name)


def inline_task(driver_info, name="vm1"):
    return StandaloneTask.for_driver("command", driver_info=driver_info, name=name)


def read(path):
    with open(path) as handle:
        return handle.read()


def lines(path):
    return read(path).splitlines() if os.path.exists(path) else []


# -- power ---------------------------------------------------------------------------

def test_on_off_status_reboot(where, hypervisor):
    task = hv_node(hypervisor, where, reboot_delay=0.05)
    power = task.driver.power
    power.validate(task)
    assert power.get_power_state(task) == PowerState.OFF

    power.set_power_state(task, PowerState.ON)
    assert read(hypervisor.state_file) == "on\n"
    assert power.get_power_state(task) == PowerState.ON
    power.set_power_state(task, "power off")
    assert power.get_power_state(task) == PowerState.OFF

    power.reboot(task)  # no reboot command: off, delay, on
    assert power.get_power_state(task) == PowerState.ON
    assert lines(hypervisor.history) == ["on vm1", "off vm1", "off vm1", "on vm1"]
    assert task.node.driver_internal_info[command_module.STATE_KEY] == "power on"


def test_reboot_command(where, hypervisor, tmp_path):
    reboots = tmp_path / "reboots"
    task = node(dict(hypervisor.commands, **where,
                     reboot="echo on > {state_file} && echo cycled {uuid} >> {reboots}"),
                dict(hypervisor.values, reboots=str(reboots)))
    task.driver.power.set_power_state(task, PowerState.REBOOT)
    assert task.driver.power.get_power_state(task) == PowerState.ON
    assert lines(str(reboots)) == ["cycled %s" % task.node.uuid]
    assert lines(hypervisor.history) == []  # not off + on


def test_status_by_exit_code(where, hypervisor):
    task = hv_node(hypervisor, where, power_status='test "$$(cat {state_file})" = on',
                   status_on_exit_code=0)
    power = task.driver.power
    assert power.get_power_state(task) == PowerState.OFF  # exit 1: any other code
    power.set_power_state(task, PowerState.ON)
    assert power.get_power_state(task) == PowerState.ON

    # With an explicit off code, a third code is an error naming both.
    task = hv_node(hypervisor, where, power_status="grep -q on {state_file} || exit 3",
                   status_on_exit_code=0, status_off_exit_code=1)
    assert task.driver.power.get_power_state(task) == PowerState.ON
    task.driver.power.set_power_state(task, PowerState.OFF)
    with pytest.raises(exception.DriverActionError) as err:
        task.driver.power.get_power_state(task)
    assert "exited 3" in str(err.value)
    assert "[command_profile:hv] status_off_exit_code (1)" in str(err.value)


def test_status_by_pattern(where, hypervisor):
    """virsh-like output: the on pattern is searched first, then the off one."""
    task = hv_node(hypervisor, where,
                   power_on="echo 'State: running' > {state_file}",
                   power_off="echo 'State: shut off' > {state_file}",
                   status_on_pattern=r"^state:\s+running$",
                   status_off_pattern=r"shut off|paused")
    power = task.driver.power
    power.set_power_state(task, PowerState.ON)
    assert power.get_power_state(task) == PowerState.ON
    power.set_power_state(task, PowerState.OFF)
    assert power.get_power_state(task) == PowerState.OFF
    with open(hypervisor.state_file, "w") as handle:
        handle.write("State: crashed\n")
    with pytest.raises(exception.DriverActionError) as err:
        power.get_power_state(task)
    assert "State: crashed" in str(err.value)
    assert "[command_profile:hv] status_on_pattern" in str(err.value)


def test_without_status_command_the_recorded_state_is_reported(where, hypervisor, caplog):
    task = hv_node(hypervisor, where, power_status=None)
    assert task.driver.power.get_power_state(task) == PowerState.ERROR
    assert "[command_profile:hv] power_status is unset" in caplog.text
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
    "x\ntouch {pwned} #",
    "x && touch {pwned} || touch {pwned}",
    "x | touch {pwned}",
    "'$(touch {pwned})'\\",
    "-n; touch {pwned} #",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_no_shell_injection_through_name_or_values(where, tmp_path, payload):
    """A node named ``x; touch <pwned>`` (and friends) runs nothing but the template.

    The value also arrives verbatim, as one word: printf prints it between
    brackets exactly as it was set. Over SSH the command is one string for
    the remote shell, quoted once, so the result is the same. The template
    ends in a legitimate comment, which a value cannot end.
    """
    pwned = tmp_path / "pwned"
    value = payload.format(pwned=pwned)
    out = tmp_path / "out"
    task = node(dict(where, power_on="printf '[%s]\\n' {name} {vm} > {out} # log {{vm}}",
                     power_off="true", power_status="echo on"),
                {"out": str(out), "vm": value}, name=value)
    task.driver.power.set_power_state(task, PowerState.ON)
    assert read(out) == "[%s]\n[%s]\n" % (value, value)
    assert not pwned.exists()


def test_placeholder_after_a_comment_never_runs(where, tmp_path, command_config):
    """The issue's exploit: ``true # vm {vm}`` with vm = "x\\ntouch P #".

    As a profile it stops start-up; as an inline template (operator opted
    in) the node fails validation. Either way nothing runs, here or on the
    SSH host.
    """
    pwned = tmp_path / "P"
    value = "x\ntouch %s #" % pwned
    registry = factory.get_registry()  # loaded before the profile exists
    command_profile.register_profile(CONF, "evil", power_on="true # vm {vm}",
                                     power_off="true", **where)
    # Defined after start-up (a program that embeds hwdrivers): refused per call.
    task = StandaloneTask.for_driver(
        "command", driver_info={"command_profile": "evil", "vm": value}, registry=registry)
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "[command_profile:evil] power_on puts {vm} after a # that starts a shell " \
        "comment" in str(err.value)
    # At start-up it stops the service.
    factory.reset()
    with pytest.raises(exception.ConfigInvalid) as err:
        factory.get_registry()
    assert err.value.option == "[command_profile:evil] power_on"
    assert not pwned.exists()

    command_profile.forget_registered(CONF)
    command_config(command__allow_node_templates=True)
    ssh_fields = ({"command_" + k: v for k, v in where.items()})
    task = inline_task(dict(ssh_fields, vm=value, command_power_on="true # vm {vm}",
                            command_power_off="true"))
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "field command_power_on puts {vm} after a # that starts a shell comment" in str(
        err.value)
    assert not pwned.exists()


def test_placeholder_inside_quotes_is_refused(where, tmp_path, command_config):
    """Quotes around a placeholder would undo its quoting: refused, nothing runs."""
    command_config(command__allow_node_templates=True)
    pwned = tmp_path / "pwned"
    ssh_fields = ({"command_" + k: v for k, v in where.items()})
    task = inline_task(dict(ssh_fields, command_power_on="echo '{name}' > /dev/null",
                            command_power_off='echo "{name}"'),
                       name="'; touch %s; '" % pwned)
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    message = str(err.value)
    assert "command_power_on puts {name} inside single quotes" in message
    assert "command_power_off puts {name} inside double quotes" in message
    assert not pwned.exists()


# -- inline templates: only when the operator opts in --------------------------------

def test_inline_templates_run_only_when_allowed(where, hypervisor, command_config):
    ssh_fields = ({"command_" + k: v for k, v in where.items()})
    info = dict(ssh_fields, **hypervisor.values,
                **{"command_" + k: v for k, v in hypervisor.commands.items()})
    task = inline_task(info)
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "allow_node_templates = false refuses" in str(err.value)
    assert lines(hypervisor.history) == []

    command_config(command__allow_node_templates=True)
    task = inline_task(info)
    task.driver.power.set_power_state(task, PowerState.ON)
    assert task.driver.power.get_power_state(task) == PowerState.ON
    assert lines(hypervisor.history) == ["on vm1"]


# -- the environment ---------------------------------------------------------------------

@pytest.fixture
def argv_shim(tmp_path, config):
    """An ``ssh`` that records its argv and environment, then runs the real one."""
    log = tmp_path / "ssh-argv"
    shim = tmp_path / "ssh-shim"
    shim.write_text('#!/bin/sh\nfor a in "$@"; do printf "%%s\\n" "$a"; done >> %s\n'
                    'env >> %s\necho ---- >> %s\nexec ssh "$@"\n' % (log, log, log))
    shim.chmod(0o755)
    config(command__ssh_command=str(shim))
    return log


def test_commands_see_none_of_the_conductors_environment(where, tmp_path, monkeypatch,
                                                        argv_shim):
    """A canary credential in the conductor's environment never reaches a command."""
    monkeypatch.setenv("HWDRIVERS_DATABASE_CONNECTION", "postgresql://hw:Canary-Pw-77@db/hw")
    monkeypatch.setenv("OS_AUTH_TOKEN", "Canary-Token-78")
    seen = tmp_path / "env"
    task = node(dict(where, power_on="env > {seen}", power_off="true"),
                {"seen": str(seen)}, command_secret=SECRET)
    task.driver.power.set_power_state(task, PowerState.ON)
    env = dict(line.split("=", 1) for line in read(seen).splitlines() if "=" in line)
    assert "Canary" not in read(seen)
    assert env["HWDRIVERS_COMMAND_SECRET"] == SECRET
    assert "PATH" in env and "HOME" in env
    if where:
        assert argv_shim.exists() and "Canary" not in read(argv_shim)  # nor the ssh client
    else:
        assert set(env) <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HOME",
                            "HWDRIVERS_COMMAND_SECRET", "PWD", "SHLVL", "_", "OLDPWD"}


# -- SSH connection reuse --------------------------------------------------------------

def test_commands_share_one_ssh_connection(sshd, hypervisor):
    task = hv_node(hypervisor, sshd.profile_options())
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
    task = hv_node(hypervisor, sshd.profile_options())
    offset = sshd.log_size()
    for _ in range(3):
        task.driver.power.get_power_state(task)
    assert sshd.accepted_since(offset) == 3


# -- timeouts and deadlines -------------------------------------------------------------

def test_hung_local_command_is_killed_with_its_children(tmp_path, hypervisor, config):
    config(command__command_timeout=1.0)
    pids = tmp_path / "pids"
    task = node(dict(hypervisor.commands, reboot_delay=0,
                     power_on="sleep 60 & echo $$! > {pids}; sleep 60"),
                dict(hypervisor.values, pids=str(pids)))
    started = time.monotonic()
    with pytest.raises(exception.DriverActionError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 4.0
    assert "within 1.0s (command timeout)" in str(err.value)
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


def test_reboot_off_delay_on_share_one_timeout(where, hypervisor):
    """A reboot without a reboot command is one command timeout, not two.

    Off takes half the timeout and on would hang: on is cut when the shared
    timeout ends (before, it got a whole timeout of its own: 3 + 0.2 + 6 s).
    """
    task = hv_node(hypervisor, where, timeout=6.0, reboot_delay=0.2,
                   power_off="sleep 3", power_on="sleep 60")
    started = time.monotonic()
    with pytest.raises((exception.DriverActionError, exception.DriverConnectionError)) as err:
        task.driver.power.reboot(task)
    assert time.monotonic() - started < 6.0 + 2.5  # slack for a loaded machine
    assert re.search(r"\[command_profile:hv\] power_(on|off) (on \S+ )?did not finish|ran "
                     r"out before \[command_profile:hv\] power_on", str(err.value)), err.value


def test_hung_ssh_command_times_out_and_is_killed_remotely(sshd, hypervisor, tmp_path):
    """The profile's timeout wins over [command]; the next command connects anew.

    The remote ``timeout`` kills the remote command's process group a
    second after the local deadline (sshd runs on this machine, so the
    test can see the remote processes). The timed-out command's control
    master is retired (its connection may be the silently dead one, see
    test_bb_kit6_ssh_master), so the next command opens one new connection.
    """
    pids = tmp_path / "remote-pids"
    options = dict(hypervisor.commands, **sshd.profile_options(), timeout=1.0,
                   reboot_delay=0.5, power_status="sleep 60 & echo $$$$ $$! > {pids}; wait")
    task = node(options, dict(hypervisor.values, pids=str(pids)))
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as err:
        task.driver.power.get_power_state(task)
    assert time.monotonic() - started < 4.0
    assert "did not finish within 1.0s (command timeout)" in str(err.value)
    remote = [int(pid) for pid in read(pids).split()]
    deadline = time.monotonic() + 6
    while any(map(_alive, remote)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, remote))
    offset = sshd.log_size()
    # A new connection takes longer than the hung command's 1 s on a loaded machine.
    task = node(dict(options, power_status="echo on", timeout=15.0), hypervisor.values)
    assert task.driver.power.get_power_state(task) == PowerState.ON
    assert sshd.accepted_since(offset) == 1  # a new master connection


class BlackHole:
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)  # held open, never written to

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def black_hole():
    server = BlackHole()
    yield server
    server.close()


@pytest.mark.parametrize("persist", [0, 60])
@pytest.mark.parametrize("peer", ["silent", "closed"])
def test_one_operation_ends_within_retry_timeout_plus_one_command_timeout(
        sshd, hypervisor, config, black_hole, peer, persist):
    """[command] command_retry_timeout + one command timeout bounds an operation.

    Against a port that accepts and never answers, each attempt is cut at
    the command timeout (ssh's ConnectTimeout is capped by it, and the
    client's process group is killed); against a closed port, refusals are
    retried until the retry deadline. Either way the error comes well
    within the bound, with a control master or without.
    """
    retry_timeout, command_timeout = 2.0, 2.0
    config(command__command_retry_timeout=retry_timeout, command__ssh_connect_timeout=30,
           command__ssh_control_persist=persist)
    port = black_hole.port if peer == "silent" else free_tcp_port()
    task = hv_node(hypervisor, sshd.profile_options(port=port), timeout=command_timeout,
                   reboot_delay=0.5)
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as err:
        retry.run(task, task.driver.power, task.driver.power.get_power_state)
    elapsed = time.monotonic() - started
    assert elapsed < retry_timeout + command_timeout + 3.0  # generous: a loaded machine
    message = str(err.value)
    assert "controller ssh:root@127.0.0.1:%d" % port in message
    if peer == "silent":
        assert black_hole.accepted  # ssh did connect, and heard nothing
        assert "timed out" in message or "did not finish within" in message
    else:
        assert "Connection refused" in message and "attempts" in message


def test_server_that_never_answers_times_out(sshd, hypervisor, config, black_hole):
    config(command__ssh_connect_timeout=1)
    task = hv_node(hypervisor, sshd.profile_options(port=black_hole.port))
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as err:
        task.driver.power.get_power_state(task)
    assert time.monotonic() - started < 5.0
    assert "timed out" in str(err.value)


# -- the secret ------------------------------------------------------------------------

def test_secret_reaches_command_as_env_never_argv(where, tmp_path, argv_shim, caplog):
    caplog.set_level("DEBUG")
    seen, argvs = tmp_path / "seen", tmp_path / "argvs"
    task = node(dict(where, power_off="true", power_status="echo on", power_on=(
        'printf %s "$$HWDRIVERS_COMMAND_SECRET" > {seen}; '
        "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $$f; echo; "
        "done > {argvs} 2>/dev/null")),
        {"seen": str(seen), "argvs": str(argvs)}, command_secret=SECRET)
    task.driver.power.set_power_state(task, PowerState.ON)
    assert read(seen) == SECRET
    every_argv = read(argvs)
    assert "HWDRIVERS_COMMAND_SECRET" in every_argv  # we did see the running command
    assert SECRET not in every_argv
    if where:
        assert argv_shim.exists() and SECRET not in read(argv_shim)
    assert SECRET not in caplog.text


def test_secret_masked_in_errors(where, caplog):
    caplog.set_level("DEBUG")
    task = node(dict(where, power_off="true",
                     power_on='echo "token is $$HWDRIVERS_COMMAND_SECRET" >&2; exit 3',
                     power_status='echo "$$HWDRIVERS_COMMAND_SECRET"'),
                {}, command_secret=SECRET)
    with pytest.raises(exception.DriverActionError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "exited 3: token is %s" % params.MASK in str(err.value)
    with pytest.raises(exception.DriverActionError) as err:
        task.driver.power.get_power_state(task)
    assert params.MASK in str(err.value)
    assert SECRET not in str(err.value) and SECRET not in caplog.text


# -- failures and the taxonomy -----------------------------------------------------------

def test_failed_command_is_an_action_error_with_stderr_tail(where):
    task = node(dict(where, power_off="true", power_on=(
        "for i in $$(seq 1 200); do echo line $$i >&2; done; exit 4")), {})
    with pytest.raises(exception.DriverActionError) as err:
        retry.run(task, task.driver.power, task.driver.power.set_power_state, PowerState.ON)
    message = str(err.value)
    assert "[command_profile:hv] power_on" in message and "exited 4" in message
    assert "line 200" in message and "line 1\n" not in message and len(message) < 700
    assert "node vm1" in message
    expected = ("ssh:root@127.0.0.1:%s" % where["port"] if where else "local")
    assert "controller %s" % expected in message


def test_command_not_found_is_a_settings_error(where):
    task = node(dict(where, power_on="no-such-hypervisor-tool start", power_off="true"), {})
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "exited 127" in str(err.value)
    assert "fix [command_profile:hv] power_on" in str(err.value)


def test_key_not_authorized_is_an_auth_error(sshd, hypervisor, config):
    config(command__command_retry_timeout=5.0)  # proves auth errors are not retried
    task = hv_node(hypervisor, sshd.profile_options(ssh_key=sshd.other_key))
    started = time.monotonic()
    with pytest.raises(exception.DriverAuthError) as err:
        retry.run(task, task.driver.power, task.driver.power.get_power_state)
    assert time.monotonic() - started < 3.0
    message = str(err.value)
    assert "refused the SSH key %s" % sshd.other_key in message
    assert "Permission denied" in message
    assert "check [command_profile:hv] user and [command_profile:hv] ssh_key" in message


@pytest.mark.parametrize("known", ["wrong", "empty"])
def test_host_key_mismatch_or_unknown_is_a_settings_error(sshd, hypervisor, tmp_path,
                                                         known):
    path = sshd.wrong_known_hosts
    if known == "empty":
        path = str(tmp_path / "known_hosts")
        open(path, "w").close()
    task = hv_node(hypervisor, sshd.profile_options(known_hosts=path))
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    message = str(err.value)
    assert "not in [command_profile:hv] known_hosts (%s) or does not match it" % path in message
    assert "ssh-keyscan" in message and "Host key verification failed" in message
    assert read(hypervisor.state_file) == "off\n"  # nothing ran


def test_ssh_client_missing_is_tool_missing(sshd, hypervisor, config):
    config(command__ssh_command="/nonexistent/bin/ssh")
    task = hv_node(hypervisor, sshd.profile_options())
    with pytest.raises(exception.DriverToolMissing) as err:
        task.driver.power.get_power_state(task)
    assert "install the OpenSSH client" in str(err.value)


def test_local_profiles_refused_unless_allowed(hypervisor, config):
    config(command__allow_local_commands=False)
    with pytest.raises(exception.ConfigInvalid) as err:  # at start-up
        hv_node(hypervisor, {})
    assert err.value.option == "[command_profile:hv] host"
    assert "allow_local_commands = true" in str(err.value)
    # Turned off while running (the registry was loaded before): refused per call.
    config(command__allow_local_commands=True)
    task = hv_node(hypervisor, {})
    CONF.set_override("allow_local_commands", False, group="command")
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "[command_profile:hv] host is unset" in str(err.value)
    assert lines(hypervisor.history) == []


# -- one controller, one command at a time ---------------------------------------------

def test_nodes_of_one_ssh_host_queue_behind_each_other(sshd, tmp_path):
    """[command] max_concurrency defaults to 1: the host sees one command at a time."""
    spans = tmp_path / "spans"
    command_profile.register_profile(
        CONF, "hv", power_on="true", power_off="true", **sshd.profile_options(),
        power_status=("echo start {name} $$(date +%s.%N) >> {spans}; sleep 0.2; "
                      "echo end {name} $$(date +%s.%N) >> {spans}; echo on"))
    limiter = controllers.ControllerLimiter()
    tasks = [StandaloneTask.for_driver(
        "command", driver_info={"command_profile": "hv", "spans": str(spans)},
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
    command_profile.register_profile(
        CONF, "hv", **sshd.profile_options(), reboot_delay=0.1,
        power_on=hypervisor.commands["power_on"] + " && echo {vm} > {history}.vm",
        power_off=hypervisor.commands["power_off"],
        power_status=hypervisor.commands["power_status"])
    manager = manager_mod.ConductorManager()
    pwned = tmp_path / "pwned"
    info = dict(hypervisor.values, command_profile="hv", command_secret=SECRET,
                vm="$(touch %s)" % pwned)
    node = manager.create_node(CTX, {"driver": "command", "name": "vm-7",
                                     "driver_info": info})
    assert manager.change_power_state(CTX, "vm-7", "power on") == PowerState.ON
    record = db_api.get_node(node.id)
    assert record["power_state"] == "power on" and record["last_error"] is None
    assert record["reservation"] is None
    assert manager.get_power_state(CTX, "vm-7") == PowerState.ON
    assert manager.change_power_state(CTX, "vm-7", "rebooting") == PowerState.ON
    assert manager.change_power_state(CTX, "vm-7", "power off") == PowerState.OFF
    assert lines(hypervisor.history) == ["on vm-7", "off vm-7", "on vm-7", "off vm-7"]
    assert read(hypervisor.history + ".vm") == "$(touch %s)\n" % pwned
    assert not pwned.exists()
    view = manager.node_view(manager.get_node(CTX, "vm-7"))
    assert view["driver_info"]["command_secret"] == params.MASK

    # A failing command is recorded as last_error, secret-free, state read back.
    manager.update_node(CTX, "vm-7", {"driver_info/state_file": "/nonexistent/dir/state"})
    with pytest.raises(exception.DriverActionError):
        manager.change_power_state(CTX, "vm-7", "power on")
    record = db_api.get_node(node.id)
    assert "[command_profile:hv] power_on" in record["last_error"]
    assert "controller ssh:root@127.0.0.1:%d" % sshd.port in record["last_error"]
    assert SECRET not in record["last_error"]

    # Enrolment refuses what validation would: a command in driver_info, an
    # unknown profile, a name with shell syntax. Nothing lands, nothing runs.
    refused = [
        ({"command_power_on": "touch %s" % pwned, "command_power_off": "true"},
         "allow_node_templates = false"),
        ({"command_profile": "nope"}, "defined in the conductor's configuration: hv"),
    ]
    for driver_info, fragment in refused:
        with pytest.raises(exception.InvalidParameterValue) as err:
            manager.create_node(CTX, {"driver": "command", "name": "vm-8",
                                      "driver_info": driver_info})
        assert fragment in str(err.value)
    with pytest.raises(exception.InvalidParameterValue, match="field name"):
        manager.create_node(CTX, {"driver": "command", "name": "x; touch %s" % pwned,
                                  "driver_info": info})
    assert not pwned.exists()


def test_existing_inline_node_gets_a_validate_error_naming_the_fix(database, hypervisor,
                                                                  command_config):
    """A node enrolled with templates while allowed fails validation once disallowed."""
    command_config(command__allow_node_templates=True)
    manager = manager_mod.ConductorManager()
    info = dict(hypervisor.values,
                **{"command_" + k: v for k, v in hypervisor.commands.items()})
    manager.create_node(CTX, {"driver": "command", "name": "old-vm", "driver_info": info})
    command_config(command__allow_node_templates=False)
    command_profile.register_profile(CONF, "hv", **hypervisor.commands)
    manager = manager_mod.ConductorManager()
    result = manager.validate_node(CTX, "old-vm")
    reason = result["power"]["reason"]
    assert result["power"]["result"] is False
    for fragment in ("allow_node_templates = false refuses", "(defined: hv)",
                     "set driver_info command_profile=<name>",
                     "unset command_power_on, command_power_off, command_power_status"):
        assert fragment in reason, fragment
    with pytest.raises(exception.InvalidParameterValue):
        manager.change_power_state(CTX, "old-vm", "power on")
    assert lines(hypervisor.history) == []

    # The fix: select the profile, keep the values, drop the templates.
    manager.update_node(CTX, "old-vm", {"driver_info/command_profile": "hv"},
                        unset=["driver_info/command_" + k for k in hypervisor.commands])
    assert manager.validate_node(CTX, "old-vm")["power"]["result"] is True
    assert manager.change_power_state(CTX, "old-vm", "power on") == PowerState.ON
    assert lines(hypervisor.history) == ["on old-vm"]
