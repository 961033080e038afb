"""Inspect interface ``agent``: in band, by the deploy ramdisk's agent.

The node boots the deploy ramdisk through its own boot interface (``ipxe``
writes the script for its ports' MACs), with
``ipa-inspection-callback-url=<api>/v1/continue_inspection`` on the kernel
command line, as Ironic's in-band inspection does. The agent (hwdrivers-agent
or ironic-python-agent) collects the machine's inventory — CPUs, memory,
disks, NICs and their MACs, boot mode, system vendor — and posts it there;
the conductor processes it, removes the boot files and powers the node off
(conductor/inspection.py). Until then the node waits in ``inspect wait``.

Needs what a deploy's ramdisk needs: the boot interface's ``deploy_kernel``
and ``deploy_ramdisk``, and a port with the MAC the machine boots from.
A boot interface that boots nothing (``noop``) is refused at validation, as
Ironic's agent inspection requires a boot it manages by default: the node
would otherwise wait out ``[deploy] callback_timeout`` for a ramdisk never
booted. ``[deploy] inspection_require_managed_boot = false`` allows it
(Ironic's unmanaged inspection): a one-time network boot, then power on,
and something outside hwdrivers boots the ramdisk.
"""

from hwdrivers.common import boot_devices
from hwdrivers.common.states import PowerState
from hwdrivers.common.states import ProvisionState
from hwdrivers.conf import CONF
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers.modules import boot_files

#: The kernel argument naming where the agent posts its inventory (IPA's).
CALLBACK_ARG = "ipa-inspection-callback-url"


def callback_url() -> str:
    return "%s/v1/continue_inspection" % boot_files.api_url().rstrip("/")


class AgentInspect(base.InspectInterface):
    """Boot the deploy ramdisk; its agent posts the inventory back."""

    #: the conductor ends the ramdisk (boot files, power) of an inspection that dies
    in_band = True

    def validate(self, task):
        super().validate(task)
        if CONF.deploy.inspection_require_managed_boot:
            boot_files.require_ramdisk_boot(
                task, "inspect_interface agent",
                unmanaged_option="[deploy] inspection_require_managed_boot")
        task.driver.boot.validate(task)

    def inspect_hardware(self, task):
        gate = getattr(task, "gate", None)
        # Recorded as verified: the node reads "power on" while its ramdisk runs.
        task.node.power_state = actions.set_power_state(task, PowerState.OFF, gate=gate).value
        if boot_files.boots_ramdisk(task):
            task.driver.boot.prepare_ramdisk(task, {CALLBACK_ARG: callback_url()})
        else:
            # Unmanaged, as Ironic's: a network boot once; whatever answers it
            # (not hwdrivers) boots the ramdisk.
            actions.set_boot_device(task, boot_devices.PXE, persistent=False, gate=gate)
            task.logger.info("inspection unmanaged (boot_interface %s): the ramdisk must "
                             "be booted by something else", task.driver.boot)
        task.node.power_state = actions.set_power_state(task, PowerState.ON, gate=gate).value
        task.logger.info("inspection ramdisk booting; the agent posts to %s", callback_url())
        return ProvisionState.INSPECTWAIT.value
