"""The command driver's error texts never show part of the node's command_secret.

Real local commands through a registered profile. A command's output is
cut to its last lines and characters for an error message; the secret is
masked before the cut, so a cut through the middle of the secret cannot
leave its tail on show.
"""

import os
import resource
import time

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception
from hwdrivers.conf import command_profile
from hwdrivers.drivers.task import StandaloneTask

CONF = hw_conf.CONF
SECRET = "Cmd-Secret-0123456789-abcdefghij"


@pytest.fixture(autouse=True)
def command_config(config):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__allow_local_commands=True,
           command__command_retry_timeout=0.0, command__command_timeout=15.0)
    yield config


def task_for(**options):
    command_profile.register_profile(CONF, "cut", **dict(
        {"power_on": "true", "power_off": "true"}, **options))
    return StandaloneTask.for_driver("command", driver_info={
        "command_profile": "cut", "command_secret": SECRET}, name="vm1")


# The secret, then enough padding that the message's cut (400 characters of
# stderr, 200 of status output) falls inside it.
SECRET_THEN = 'printf "%%s%s\\n" "$$HWDRIVERS_COMMAND_SECRET"'


@pytest.mark.parametrize("stream, padding, error", [
    ("stderr", 390, exception.DriverActionError),
    ("stdout", 190, exception.DriverActionError),
])
def test_a_cut_through_the_secret_shows_none_of_it(stream, padding, error):
    command = SECRET_THEN % ("y" * padding)
    if stream == "stderr":
        task = task_for(power_on="%s >&2; exit 1" % command)
        call = task.driver.power.set_power_state
        args = ("power on",)
    else:
        task = task_for(power_status=command)
        call = task.driver.power.get_power_state
        args = ()
    with pytest.raises(error) as caught:
        call(task, *args)
    text = str(caught.value)
    assert "yyyy" in text  # the output is shown...
    for size in range(8, len(SECRET) + 1):  # ...but no part of the secret
        assert SECRET[-size:] not in text, text


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_command_that_prints_without_end_is_killed_at_the_output_limit(stream, tmp_path):
    """``yes`` as a status command grew the conductor by gigabytes a second
    until the command timeout; it is killed once it passes 1 MiB, long before
    its timeout, with everything it started."""
    pids = tmp_path / "pids"
    task = task_for(timeout=15, reboot_delay=1, power_status=(
        "sleep 1000 & echo $$! > %s; yes %s" % (pids, ">&2" if stream == "stderr" else "")))
    started = time.monotonic()
    with pytest.raises(exception.DriverActionError, match="printed more than 1048576 bytes"):
        task.driver.power.get_power_state(task)
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1024 * 1024  # KiB: < 1 GiB
    child = int(pids.read_text())
    deadline = time.monotonic() + 5
    while os.path.exists("/proc/%d" % child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d" % child), "the command's child survived"


def test_output_under_the_limit_is_read_whole():
    task = task_for(power_status="head -c 1000000 /dev/zero | tr '\\\\0' x; echo; echo on")
    assert task.driver.power.get_power_state(task) == "power on"
