"""Power a board by writing its relay's GPIO value file.

Linux exposes a GPIO line as ``/sys/class/gpio/gpioN/value``: writing "1"
energises the relay. Boards on one GPIO chip share it, so the chip is the
controller and calls to it are serialised.
"""

import os

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import base
from hwdrivers.drivers import params


def _not_exported(path):
    """The same error, saying what to do, whether the line is read or switched."""
    return exception.DriverSettingsError(
        "GPIO value file %s does not exist: export the line or fix gpio_value_path" % path)


class GPIOPower(base.PowerInterface):
    driver_info_schema = params.Schema(
        params.Param("gpio_value_path", "Path of the GPIO line's value file, "
                     "e.g. /sys/class/gpio/gpio17/value", required=True),
        params.Param("gpio_active_low", "The relay closes on 0 instead of 1",
                     type="bool", default=False),
    )

    def controller_key(self, task):
        return "gpio:%s" % os.path.dirname(os.path.dirname(task.node.driver_info.get(
            "gpio_value_path", "")))

    def controller_limits(self):
        return base.ControllerLimits(max_concurrency=1, min_interval=0.0)

    def _levels(self, task):
        info = self.parse_driver_info(task)
        on, off = ("0", "1") if info["gpio_active_low"] else ("1", "0")
        return info["gpio_value_path"], on, off

    def get_power_state(self, task):
        path, on, _ = self._levels(task)
        try:
            with open(path) as handle:
                return PowerState.ON if handle.read().strip() == on else PowerState.OFF
        except FileNotFoundError:
            raise _not_exported(path) from None
        except OSError as exc:
            raise exception.DriverActionError("cannot read %s: %s" % (path, exc.strerror))

    def set_power_state(self, task, power_state, timeout=None):
        path, on, off = self._levels(task)
        target = PowerState.parse(power_state)
        if target not in self.get_supported_power_states(task):
            raise exception.InvalidPowerState(
                reason="Node %s: a relay can switch on, off or reboot, not %s"
                % (task.node.uuid, target.value))
        level = on if target.resting == PowerState.ON else off
        try:
            # "r+": writing never creates the file, where "w" would make an
            # ordinary file in place of a line that is not exported yet.
            with open(path, "r+") as handle:
                handle.write(level)
        except FileNotFoundError:
            raise _not_exported(path) from None
        except OSError as exc:
            raise exception.DriverActionError("cannot write %s: %s" % (path, exc.strerror))

    def reboot(self, task, timeout=None):
        self.set_power_state(task, PowerState.OFF)
        self.set_power_state(task, PowerState.ON)
