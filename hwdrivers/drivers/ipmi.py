"""ipmi: machines whose BMC speaks IPMI over LAN, driven through ipmitool.

Power and management (boot device, sensors, NMI) go through the BMC;
boot and deploy are ``noop`` unless a node asks for ``ipxe`` and
``direct`` (deploying images through the ramdisk agent), and inspection
is ``no-inspect`` unless a node asks for ``agent`` (in band, doc/inspection.md).
Management falls back to ``noop`` for BMCs whose boot-flag support is
broken, so power still works.
"""

from hwdrivers.drivers import hardware_type


class IPMIHardware(hardware_type.AbstractHardwareType):
    description = ("Machines with an IPMI 2.0 (lanplus) or 1.5 BMC, through ipmitool; "
                   "the password goes by environment, never the command line.")

    supported_boot_interfaces = ("noop", "ipxe")
    supported_deploy_interfaces = ("noop", "direct")
    supported_management_interfaces = ("ipmitool", "noop")
    supported_power_interfaces = ("ipmitool",)
    supported_console_interfaces = ("ipmitool-socat", "no-console")
    supported_inspect_interfaces = ("no-inspect", "agent")
