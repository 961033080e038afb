"""fake-hardware: every interface simulated, state kept on the node."""

from hwdrivers.drivers import hardware_type


class FakeHardware(hardware_type.AbstractHardwareType):
    description = ("Simulated machine for tests and scale trials; set "
                   "[fake] *_delay to model a slow controller.")

    supported_boot_interfaces = ("fake", "noop")
    supported_deploy_interfaces = ("fake", "noop")
    supported_management_interfaces = ("fake", "noop")
    supported_power_interfaces = ("fake",)
    supported_console_interfaces = ("fake", "no-console")
    supported_inspect_interfaces = ("fake", "no-inspect")
    supported_raid_interfaces = ("fake", "no-raid")
    supported_bios_interfaces = ("fake", "no-bios")
    supported_vendor_interfaces = ("fake", "no-vendor")
    supported_rescue_interfaces = ("fake", "no-rescue")
