"""The ``sim`` hardware type: power and boot device of a simulated machine.

``driver_info``: ``sim_path``, the machine's directory (see simulator.py).
Boot is ``ipxe`` or ``redfish-virtual-media`` (with the emulator system that
is the machine's BMC in its driver_info) and deploy ``direct``, the same
implementations real machines use: only power and management know the
machine is simulated. Not enabled by default (powering on starts processes);
enable it with ``enabled_hardware_types = sim`` and ``enabled_power_interfaces
/ enabled_management_interfaces = sim`` (and ``enabled_console_interfaces =
sim`` to watch its serial port).
"""

import os

from hwdrivers.common import boot_devices
from hwdrivers.common import environment
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import base
from hwdrivers.drivers import hardware_type
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import console_base
from hwdrivers.testing import simulator


def _exists(path: str) -> None:
    if not os.path.isfile(os.path.join(path, "machine.json")):
        raise ValueError("must be the directory of a simulated machine (with machine.json)")


_SCHEMA = params.Schema(
    params.Param("sim_path", "Directory of the simulated machine (machine.json, disk.img)",
                 required=True, check=_exists),
)


def machine(task) -> simulator.Machine:
    """The node's machine; DriverSettingsError naming sim_path when it is not one.

    Checked on every call, not only in validate: the power sync reads nodes
    whose machine directory may have been deleted since.
    """
    path = (task.node.driver_info or {}).get("sim_path")
    if not isinstance(path, str) or not path.strip():
        raise exception.DriverSettingsError(
            "driver_info sim_path is not set: set it to a simulated machine's directory "
            "(one with machine.json)")
    try:
        return simulator.Machine(path)
    except (OSError, ValueError) as exc:  # gone, unreadable, not JSON
        raise exception.DriverSettingsError(
            "driver_info sim_path=%s is not a simulated machine's directory (%s): fix "
            "sim_path, or create the machine (hwdrivers.testing.MachineFixture)"
            % (path, getattr(exc, "strerror", None) or exc.__class__.__name__)) from None


class SimPower(base.PowerInterface):
    """Power of a simulated machine: on boots it, off stops what it runs."""

    driver_info_schema = _SCHEMA
    power_states = (PowerState.ON, PowerState.OFF, PowerState.REBOOT)

    def get_power_state(self, task):
        return PowerState.ON if machine(task).power == "on" else PowerState.OFF

    def set_power_state(self, task, power_state, timeout=None):
        power_state = PowerState.parse(power_state)  # also the CLI's words: on, reboot
        if power_state == PowerState.ON:
            machine(task).power_on()
        elif power_state == PowerState.OFF:
            machine(task).power_off()
        elif power_state == PowerState.REBOOT:
            self.reboot(task, timeout)
        else:
            raise self.unsupported(task, "power state %s" % power_state.value)

    def reboot(self, task, timeout=None):
        machine(task).reboot()


class SimManagement(base.ManagementInterface):
    """Boot device of a simulated machine (pxe, disk, cdrom; one-time or persistent)."""

    driver_info_schema = _SCHEMA

    def get_supported_boot_devices(self, task):
        return [boot_devices.PXE, boot_devices.DISK, boot_devices.CDROM]

    def set_boot_device(self, task, device, persistent=False):
        if device not in self.get_supported_boot_devices(task):
            raise exception.InvalidBootDevice(
                reason="Node %s: the simulator boots from pxe, disk or cdrom, not %s"
                       % (task.node.name or task.node.uuid, device))
        machine(task).set_boot_device(device, persistent=persistent)

    def get_boot_device(self, task):
        return machine(task).get_boot_device()


class SimConsole(console_base.ProxiedConsole):
    """The machine's serial port: its boot messages, then its deploy agent's log.

    Served by the conductor's console proxy like any console (log, one
    client, restarts); the "serial line" is ``tail -F`` over the two files
    the simulator writes. Typing reaches nothing: the simulated machine has
    no shell on its console.
    """

    driver_info_schema = _SCHEMA

    def console_command(self, task) -> console_base.ConsoleCommand:
        sim = machine(task)
        for path in (sim.serial_path, sim.agent_log_path):
            open(path, "a").close()  # tail -F starts quietly on files that exist
        return console_base.ConsoleCommand(
            argv=["tail", "-q", "-n", "+1", "-F", sim.serial_path, sim.agent_log_path],
            env=environment.minimal(), peer="simulated machine %s" % sim.path)


class SimHardware(hardware_type.AbstractHardwareType):
    description = ("A simulated machine that really boots (iPXE chain, virtual CD, disk) "
                   "and runs "
                   "hwdrivers-agent on a disk image file; for tests, demos and "
                   "benchmarks.")

    supported_boot_interfaces = ("ipxe", "redfish-virtual-media", "noop")
    supported_deploy_interfaces = ("direct", "noop")
    supported_management_interfaces = ("sim",)
    supported_power_interfaces = ("sim",)
    supported_inspect_interfaces = ("no-inspect", "agent")
    supported_console_interfaces = ("no-console", "sim")
