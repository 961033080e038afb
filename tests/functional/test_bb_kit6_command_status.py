"""A status command killed by a signal is no power state.

With ``status_on_exit_code`` and no ``status_off_exit_code``, any other exit
code reads as "off". A status tool that crashed (SIGSEGV) or that the OOM
killer ended (SIGKILL) said nothing about the machine, yet read as off: the
conductor then believes a running machine is off (and its power sync may act
on it). Real commands, run locally and over SSH to the test sshd; the
remote shell reports a child's death as 128 + N, ``sh -c`` locally too, and
subprocess a negative status when ``sh`` itself dies.
"""

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import command_profile
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask

CONF = hw_conf.CONF

#: status command (a profile value: $$ is one $) -> the signal named.
KILLED = {
    "the shell itself": ("kill -SEGV $$$$", "SIGSEGV"),
    "a child of the shell": ("sh -c 'kill -KILL $$$$'; exit $$?", "SIGKILL"),
}


@pytest.fixture(autouse=True)
def command_config(config):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__allow_local_commands=True,
           command__command_retry_timeout=0.0, command__command_timeout=15.0)
    yield
    ssh.close_masters()


@pytest.fixture(params=["local", "ssh"])
def where(request):
    if request.param == "ssh":
        return request.getfixturevalue("sshd").profile_options()
    return {}


def status_task(where, power_status, **options):
    command_profile.register_profile(CONF, "sig", power_on="true", power_off="true",
                                     power_status=power_status, **where, **options)
    return StandaloneTask.for_driver("command", {"command_profile": "sig"}, name="vm1")


@pytest.mark.parametrize("how", sorted(KILLED))
def test_a_status_command_killed_by_a_signal_is_not_off(where, how):
    command, name = KILLED[how]
    task = status_task(where, command, status_on_exit_code=0)
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.get_power_state(task)
    text = str(caught.value)
    assert "[command_profile:sig] power_status" in text, text
    if where and how == "the shell itself":
        assert "exited 255" in text, text  # sshd reports the signal; ssh exits 255
    else:
        assert "was killed by %s" % name in text, text


def test_other_codes_still_read_as_off(where):
    task = status_task(where, "exit 3", status_on_exit_code=0)
    assert task.driver.power.get_power_state(task) == PowerState.OFF


def test_an_explicit_off_code_above_128_is_honoured(where):
    task = status_task(where, "exit 130", status_on_exit_code=0, status_off_exit_code=130)
    assert task.driver.power.get_power_state(task) == PowerState.OFF


def test_a_failed_power_command_names_the_signal(where):
    command_profile.register_profile(CONF, "sig", power_on="kill -TERM $$$$",
                                     power_off="true", **where)
    task = StandaloneTask.for_driver("command", {"command_profile": "sig"}, name="vm1")
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.set_power_state(task, PowerState.ON)
    text = str(caught.value)
    assert "[command_profile:sig] power_on" in text, text
    if not where:
        assert "was killed by SIGTERM (exit status -15)" in text, text


FORGED = "web1\n2026-12-02 12:00:00.000 7 ERROR hwdrivers.conductor [-] forged line"


def test_stderr_echoing_a_node_value_stays_on_one_line(where):
    """A tool's stderr that quotes a node's value (an API user's text) cannot
    start a line of its own in the message, which is logged on every retry."""
    command_profile.register_profile(
        CONF, "echoing", power_off="true",
        power_on="printf 'error: failed to get domain %s\\n' {vm} >&2; exit 1", **where)
    task = StandaloneTask.for_driver("command", {"command_profile": "echoing",
                                                 "vm": FORGED}, name="vm1")
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.set_power_state(task, PowerState.ON)
    text = str(caught.value)
    assert "\n" not in text, text
    assert "failed to get domain web1\\n2026-12-02 12:00:00.000 7 ERROR" in text, text


def test_the_debug_line_of_a_command_stays_one_line(where, caplog):
    caplog.set_level("DEBUG")
    command_profile.register_profile(CONF, "echoing", power_off="true",
                                     power_on="echo {vm} > /dev/null", **where)
    task = StandaloneTask.for_driver("command", {"command_profile": "echoing",
                                                 "vm": FORGED}, name="vm1")
    task.driver.power.set_power_state(task, PowerState.ON)
    running = [r.getMessage() for r in caplog.records if "running" in r.getMessage()]
    assert running and all("\n" not in line for line in running), running
    assert "web1\\n2026-12-02" in running[0], running
