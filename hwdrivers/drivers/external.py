"""external: machines driven by an executable speaking the MAAS JSON protocol.

Power comes from the executable; so does the boot device when its schema
declares ``can_set_boot_order`` (else use management ``noop``). Boot and
deploy are ``noop``: the executable only switches power and boot order.
"""

from hwdrivers.drivers import hardware_type


class ExternalHardware(hardware_type.AbstractHardwareType):
    description = ("Power (and boot order) through a driver executable in any language "
                   "speaking the MAAS power-driver JSON protocol.")

    supported_boot_interfaces = ("noop",)
    supported_deploy_interfaces = ("noop",)
    supported_management_interfaces = ("external", "noop")
    supported_power_interfaces = ("external",)
