"""redfish: machines whose BMC speaks DMTF Redfish (power, boot device, sensors)."""

from hwdrivers.drivers import hardware_type


class RedfishHardware(hardware_type.AbstractHardwareType):
    description = ("Machines with a Redfish BMC (iDRAC, iLO, XCC, OpenBMC...), "
                   "driven through sushy with reused sessions.")

    supported_boot_interfaces = ("noop", "ipxe", "redfish-virtual-media")
    supported_deploy_interfaces = ("noop", "direct")
    supported_management_interfaces = ("redfish", "noop")
    supported_power_interfaces = ("redfish",)
    supported_inspect_interfaces = ("redfish", "agent", "no-inspect")
    supported_bios_interfaces = ("redfish", "no-bios")
