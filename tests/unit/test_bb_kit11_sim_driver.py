"""The sim driver follows the rules it stands for in tests and demos.

- a target is read with PowerState.parse, as doc/writing-a-driver.md tells
  every driver: "on" and "reboot" (the CLI's words) were refused with
  "its power interface (sim) does not support power state on";
- a node whose sim_path is missing, or no longer a machine's directory (the
  machine was deleted under it), gets a DriverSettingsError naming sim_path
  from every call, where KeyError and FileNotFoundError escaped the taxonomy.
"""

import threading

import pytest

from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers.task import StandaloneTask
from hwdrivers.testing import ConfigFixture, MachineFixture, conformance
from tests.waits import wait_for

ENABLED = dict(enabled_hardware_types=["sim"], enabled_power_interfaces=["sim"],
               enabled_management_interfaces=["sim"], enabled_boot_interfaces=["noop"],
               enabled_deploy_interfaces=["noop"])


@pytest.fixture
def config():
    with ConfigFixture() as fixture:
        fixture.set(**ENABLED)
        yield fixture


def test_the_cli_words_are_targets(config):
    with MachineFixture() as machine:
        task = StandaloneTask.for_driver("sim", machine.driver_info())
        power = task.driver.power
        power.set_power_state(task, "on")
        assert power.get_power_state(task) == PowerState.ON
        power.set_power_state(task, "reboot")
        assert power.get_power_state(task) == PowerState.ON
        power.set_power_state(task, "off")
        assert power.get_power_state(task) == PowerState.OFF
        with pytest.raises(exception.UnsupportedDriverExtension, match="soft power off"):
            power.set_power_state(task, "soft-off")
        # The machine's boots (empty disk: they fail) end before it is deleted.
        wait_for(lambda: not [t for t in threading.enumerate()
                              if t.name.startswith("sim-boot")], message="boots to end")


@pytest.mark.parametrize("info", [{}, {"sim_path": "/nonexistent/machine-gone"}])
@pytest.mark.parametrize("call", [
    lambda task: task.driver.power.get_power_state(task),
    lambda task: task.driver.power.set_power_state(task, PowerState.ON),
    lambda task: task.driver.power.reboot(task),
    lambda task: task.driver.management.get_boot_device(task),
    lambda task: task.driver.management.set_boot_device(task, boot_devices.PXE),
])
def test_a_machine_that_is_not_there_is_a_settings_error(config, info, call):
    task = StandaloneTask.for_driver("sim", info)
    with pytest.raises(exception.DriverSettingsError, match="sim_path"):
        call(task)


def test_the_taxonomy_check_passes_with_a_machine_that_is_gone():
    with MachineFixture() as machine:
        conformance.run(conformance.Subject(
            "sim", machine.driver_info(),
            unreachable=lambda host, port: {"sim_path": "/nonexistent/machine-gone"}),
            [conformance.errors_belong_to_the_taxonomy,
             conformance.management_errors_belong_to_the_taxonomy])
