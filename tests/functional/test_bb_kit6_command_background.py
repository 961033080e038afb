"""A local command that leaves a process running is done when its shell exits.

A relay script that starts a helper in the background (``helper &``, or
``nohup helper &``, which keeps a pipe as stdout) leaves our pipes open: the
call waited for their EOF, so a power on that finished at once failed as
"did not finish within <timeout>" and the helper was killed with the
command's process group. Real shells and processes on this host.
"""

import os
import signal

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.common.states import PowerState
from hwdrivers.conf import command_profile
from hwdrivers.drivers.task import StandaloneTask

CONF = hw_conf.CONF


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as handle:  # a zombie is not alive
        return handle.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def pids(config, tmp_path):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__allow_local_commands=True,
           command__command_retry_timeout=0.0, command__command_timeout=5.0)
    path = tmp_path / "pids"
    yield path
    for pid in (int(p) for p in (path.read_text().split() if path.exists() else [])):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def task_for(pids, **commands):
    options = dict({"power_on": "true", "power_off": "true", "reboot_delay": 0}, **commands)
    command_profile.register_profile(CONF, "bg", **options)
    return StandaloneTask.for_driver("command", {"command_profile": "bg",
                                                 "pids": str(pids)}, name="vm1")


def test_a_power_on_that_starts_a_helper_succeeds_and_keeps_it(pids):
    task = task_for(pids, power_on="sleep 60 & echo $$! > {pids}; echo started")
    task.driver.power.set_power_state(task, PowerState.ON)
    (helper,) = [int(p) for p in pids.read_text().split()]
    assert alive(helper)  # the script's helper was not killed with the command


def test_the_status_printed_before_the_exit_is_read_whole(pids):
    task = task_for(pids, power_status="sleep 60 & echo $$! > {pids}; seq 1 30000; echo on")
    assert task.driver.power.get_power_state(task) == PowerState.ON
