"""Interface machinery: steps, passthru, no-op implementations."""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import base
from hwdrivers.drivers import task as driver_task
from hwdrivers.drivers.modules import noop


class StepsPower(base.PowerInterface):
    def get_power_state(self, task):
        return "power off"

    def set_power_state(self, task, power_state, timeout=None):
        pass

    def reboot(self, task, timeout=None):
        pass

    @base.clean_step(priority=10, abortable=True,
                     argsinfo={"level": {"description": "how hard", "required": True}})
    def scrub(self, task, level):
        task.node.extra["scrubbed"] = level

    @base.deploy_step(priority=0)
    def tune(self, task):
        task.node.extra["tuned"] = True


def make_task():
    return driver_task.StandaloneTask.for_driver("fake-hardware", name="n1")


def test_clean_and_deploy_steps_are_collected():
    power = StepsPower()
    task = make_task()
    assert power.get_clean_steps(task) == [{
        "step": "scrub", "priority": 10, "abortable": True, "interface": "power",
        "argsinfo": {"level": {"description": "how hard", "required": True}}}]
    assert [s["step"] for s in power.get_deploy_steps(task)] == ["tune"]


def test_execute_clean_step_checks_arguments():
    power = StepsPower()
    task = make_task()
    power.execute_clean_step(task, {"step": "scrub", "args": {"level": 3}})
    assert task.node.extra["scrubbed"] == 3
    with pytest.raises(exception.InvalidParameterValue, match="missing argument.*level"):
        power.execute_clean_step(task, {"step": "scrub"})
    with pytest.raises(exception.InvalidParameterValue, match="unknown argument.*bogus"):
        power.execute_clean_step(task, {"step": "scrub", "args": {"level": 1, "bogus": 2}})
    with pytest.raises(exception.InvalidParameterValue, match="known steps: scrub"):
        power.execute_clean_step(task, {"step": "nope"})


def test_step_decorators_reject_bad_declarations():
    with pytest.raises(ValueError):
        base.clean_step(priority="high")
    with pytest.raises(ValueError):
        base.clean_step(priority=1, abortable="yes")
    with pytest.raises(ValueError):
        base.deploy_step(priority=1, argsinfo={"x": {}})


def test_passthru_routes_and_http_methods():
    task = make_task()
    vendor = task.driver.vendor
    assert set(vendor.vendor_routes) == {"first_method", "second_method"}
    assert vendor.vendor_routes["first_method"]["async"] is False
    assert vendor.call(task, "first_method", http_method="GET", a=1)["args"] == {"a": 1}
    with pytest.raises(exception.InvalidParameterValue, match="accepts POST, not GET"):
        vendor.call(task, "second_method", http_method="GET")
    with pytest.raises(exception.InvalidParameterValue, match="methods: first_method"):
        vendor.call(task, "missing")
    with pytest.raises(ValueError):
        base.passthru(["FETCH"])


@pytest.mark.parametrize("cls,call", [
    (noop.NoConsole, lambda i, t: i.start_console(t)),
    (noop.NoRAID, lambda i, t: i.delete_configuration(t)),
    (noop.NoBIOS, lambda i, t: i.factory_reset(t)),
    (noop.NoRescue, lambda i, t: i.rescue(t)),
    (noop.NoInspect, lambda i, t: i.inspect_hardware(t)),
    (noop.NoVendor, lambda i, t: i.validate(t)),
    (noop.NoopManagement, lambda i, t: i.set_boot_device(t, "pxe")),
])
def test_unsupported_implementations_raise_clearly(cls, call):
    impl = cls()
    impl.name = "no-x"
    task = make_task()
    with pytest.raises(exception.UnsupportedDriverExtension) as info:
        call(impl, task)
    assert task.node.uuid in str(info.value)
    assert "no-x" in str(info.value)


class GroupPower(StepsPower):
    config_group = "snmp"


def test_config_group_gives_controller_limits_and_retry_deadline(config):
    config(snmp__max_concurrency=3, snmp__min_command_interval=0.25,
           snmp__command_retry_timeout=7.0)
    assert GroupPower().controller_limits() == (3, 0.25)
    assert GroupPower().retry_timeout() == 7.0
    assert StepsPower().controller_limits() == base.UNLIMITED
    assert StepsPower().retry_timeout() == 0.0


def test_config_group_without_a_retry_option_never_retries(config):
    class FakeGroup(StepsPower):
        config_group = "fake"

    config(fake__max_concurrency=2)
    assert FakeGroup().controller_limits() == (2, 0.0)
    assert FakeGroup().retry_timeout() == 0.0


def test_driver_modules_register_the_groups_they_read():
    """Imported alone (no factory), a driver module's options are readable."""
    import subprocess
    import sys
    code = ("from hwdrivers.drivers.modules import snmp\n"
            "print(snmp.CONF.snmp.reboot_delay, snmp.SNMPPower().controller_limits())\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
