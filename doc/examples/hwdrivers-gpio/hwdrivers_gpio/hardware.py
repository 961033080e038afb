"""The gpio-relay hardware type: power by relay, nothing else to manage."""

from hwdrivers.drivers import hardware_type


class GPIORelayHardware(hardware_type.AbstractHardwareType):
    description = "Boards powered through a relay on a GPIO line."

    supported_power_interfaces = ("gpio",)
    supported_management_interfaces = ("noop",)
    supported_boot_interfaces = ("noop",)
    supported_deploy_interfaces = ("noop",)
