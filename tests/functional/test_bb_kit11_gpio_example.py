"""The example plugin (doc/examples/hwdrivers-gpio) says what to fix for a
line that is not exported, whether it reads or switches it.

get_power_state said "GPIO value file ... does not exist: export the line
or fix gpio_value_path" (DriverSettingsError, not retried), but
set_power_state on the same node said only "cannot write ...: No such file
or directory" as a DriverActionError, retried for the whole retry timeout
although nothing would change.
"""

import os
import subprocess
import sys

import pytest
import stevedore

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers.task import StandaloneTask
from hwdrivers.testing import ConfigFixture

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "doc", "examples", "hwdrivers-gpio")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("gpio-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), EXAMPLE],
                   check=True, cwd=str(tmp_path_factory.mktemp("gpio-build")),
                   capture_output=True)
    return str(site)


@pytest.fixture
def gpio(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(plugin_site)
    # stevedore keeps each namespace's entry points for the process's life:
    # a registry built by an earlier test would not see the plugin.
    monkeypatch.setattr(stevedore.ExtensionManager, "ENTRY_POINT_CACHE", {})
    with ConfigFixture() as config:
        config.set(enabled_hardware_types=["gpio-relay"], enabled_power_interfaces=["gpio"],
                   enabled_management_interfaces=["noop"])
        yield
    for name in [m for m in sys.modules if m.startswith("hwdrivers_gpio")]:
        del sys.modules[name]


@pytest.mark.parametrize("call", [
    lambda task: task.driver.power.get_power_state(task),
    lambda task: task.driver.power.set_power_state(task, PowerState.ON),
    lambda task: task.driver.power.reboot(task),
])
def test_a_line_not_exported_is_a_settings_error_naming_the_fix(gpio, tmp_path, call):
    task = StandaloneTask.for_driver(
        "gpio-relay", {"gpio_value_path": str(tmp_path / "gpio17" / "value")})
    with pytest.raises(exception.DriverSettingsError,
                       match="export the line or fix gpio_value_path"):
        call(task)


def test_switching_a_line_not_exported_creates_no_file(gpio, tmp_path):
    """The chip's directory is there, the line's value file not: "w" made an
    ordinary file and reported the board switched on."""
    (tmp_path / "gpio17").mkdir()
    value = tmp_path / "gpio17" / "value"
    task = StandaloneTask.for_driver("gpio-relay", {"gpio_value_path": str(value)})
    with pytest.raises(exception.DriverSettingsError, match="export the line"):
        task.driver.power.set_power_state(task, PowerState.ON)
    assert not value.exists()
