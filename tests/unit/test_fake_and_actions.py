"""fake-hardware through the shared actions: check, act, verify."""

import time

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import retry
from hwdrivers.drivers import task as driver_task
from hwdrivers.drivers.modules import fake


def make_task(**fields):
    return driver_task.StandaloneTask.for_driver("fake-hardware", name="n1", **fields)


def test_power_cycle_through_actions():
    task = make_task()
    assert actions.get_power_state(task) == PowerState.OFF
    assert actions.set_power_state(task, "on") == PowerState.ON
    assert actions.set_power_state(task, PowerState.REBOOT) == PowerState.ON
    assert actions.set_power_state(task, "soft power off") == PowerState.OFF


def test_invalid_power_target_lists_supported():
    task = make_task()
    with pytest.raises(exception.InvalidPowerState) as info:
        actions.set_power_state(task, "sideways")
    assert "on" in str(info.value)
    assert task.node.power_state is None  # nothing changed


def test_boot_device_round_trip_and_bad_device():
    task = make_task()
    actions.set_boot_device(task, "pxe", persistent=True)
    assert actions.get_boot_device(task) == {"boot_device": "pxe", "persistent": True}
    with pytest.raises(exception.InvalidBootDevice) as info:
        actions.set_boot_device(task, "floppy-disk")
    assert "supported: pxe" in str(info.value)
    assert task.node.boot_device == "pxe"


def test_fake_delay_range(config):
    config(fake__power_delay="0.02,0.04")
    task = make_task()
    start = time.monotonic()
    task.driver.power.get_power_state(task)
    assert time.monotonic() - start >= 0.02


@pytest.mark.parametrize("text,expected", [("0", (0.0, 0.0)), ("0.1", (0.1, 0.1)),
                                           ("0.05,0.2", (0.05, 0.2))])
def test_parse_delay(text, expected):
    assert fake.parse_delay(text, "power_delay") == expected


@pytest.mark.parametrize("text", ["x", "-1", "0.2,0.1", "1,2,3"])
def test_parse_delay_rejects(text):
    with pytest.raises(exception.ConfigInvalid):
        fake.parse_delay(text, "power_delay")


class FlakyPower(base.PowerInterface):
    """Fails ``failures`` times with ``error`` then answers."""

    def __init__(self, error, failures, timeout=5.0):
        super().__init__()
        self.error, self.failures, self.timeout, self.calls = error, failures, timeout, 0

    def retry_timeout(self):
        return self.timeout

    def controller_key(self, task):
        return "flaky:1"

    def get_power_state(self, task):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error("no answer")
        return PowerState.ON

    def set_power_state(self, task, power_state, timeout=None):
        pass

    def reboot(self, task, timeout=None):
        pass


def test_retry_retries_connection_errors_then_succeeds():
    task = make_task()
    power = FlakyPower(exception.DriverConnectionError, failures=2)
    assert retry.run(task, power, power.get_power_state) == PowerState.ON
    assert power.calls == 3


def test_retry_does_not_retry_auth_errors_and_names_node_and_controller():
    task = make_task()
    power = FlakyPower(exception.DriverAuthError, failures=5)
    with pytest.raises(exception.DriverAuthError) as info:
        retry.run(task, power, power.get_power_state)
    assert power.calls == 1
    assert "node n1" in str(info.value) and "controller flaky:1" in str(info.value)


def test_retry_gives_up_at_the_deadline():
    task = make_task()
    power = FlakyPower(exception.DriverConnectionError, failures=1000, timeout=0.5)
    start = time.monotonic()
    with pytest.raises(exception.DriverConnectionError, match="after .* attempts"):
        retry.run(task, power, power.get_power_state)
    assert time.monotonic() - start < 3
    assert power.calls >= 2


def test_verify_times_out_with_clear_error(config):
    config(conductor__power_state_change_timeout=0.2)
    task = make_task()

    class Stuck(FlakyPower):
        def get_power_state(self, task):
            return PowerState.OFF

    task.driver.power = Stuck(exception.DriverActionError, 0)
    task.driver.interfaces["power"] = task.driver.power
    with pytest.raises(exception.PowerStateFailure, match="still power off after 0.2s") as info:
        actions.set_power_state(task, "on")
    assert "raise [conductor] power_state_change_timeout" in str(info.value)


def test_a_slow_soft_off_names_the_wait_that_ran_out(config):
    """Its wait is soft_power_off_timeout; the hint named the other one."""
    config(conductor__soft_power_off_timeout=1)
    task = make_task()

    class Stuck(FlakyPower):
        power_states = (PowerState.ON, PowerState.OFF, PowerState.SOFT_OFF)

        def get_power_state(self, task):
            return PowerState.ON

    task.driver.power = Stuck(exception.DriverActionError, 0)
    task.driver.interfaces["power"] = task.driver.power
    with pytest.raises(exception.PowerStateFailure) as info:
        actions.set_power_state(task, "soft power off")
    assert "still power on after 1.0s (raise [conductor] soft_power_off_timeout" in str(
        info.value)
    with pytest.raises(exception.PowerStateFailure) as info:
        actions.set_power_state(task, "soft power off", timeout=0.1)
    assert "the wait the request asked for" in str(info.value)


def test_validate_reports_per_interface():
    task = make_task(driver_info={"fake_x": 1})
    result = actions.validate(task)
    assert result["power"]["result"] is True
    assert set(result) >= {"power", "management", "boot", "deploy"}


def test_fake_controller_serialises_nodes_sharing_it(config):
    """Nodes naming one fake_controller never run two commands at once."""
    import threading

    from hwdrivers.conductor import controllers

    config(fake__power_delay="0.02", fake__max_concurrency=1)
    limiter = controllers.ControllerLimiter()
    tasks = [make_task(driver_info={"fake_controller": "pdu1"}) for _ in range(6)]
    assert tasks[0].driver.power.controller_key(tasks[0]) == "fake:pdu1"
    threads = [threading.Thread(target=actions.set_power_state, args=(t, "on"),
                                kwargs={"gate": limiter.slot}) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(t.node.power_state == "power on" for t in tasks)
    assert limiter.peak("fake:pdu1") == 1

    config(fake__max_concurrency=3)
    limiter = controllers.ControllerLimiter()
    threads = [threading.Thread(target=actions.set_power_state, args=(t, "off"),
                                kwargs={"gate": limiter.slot}) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert 1 < limiter.peak("fake:pdu1") <= 3
