"""snmp: machines fed by a switched PDU outlet, powered on and off over SNMP.

A PDU only switches power, so management (boot device), boot and deploy are
``noop``: the machine boots whatever its firmware is set to.
"""

from hwdrivers.drivers import hardware_type


class SNMPHardware(hardware_type.AbstractHardwareType):
    description = ("Outlet power through a PDU over SNMP v1/v2c/v3 (APC, CyberPower, "
                   "Eaton, ... or any PDU by OID); one queue per PDU.")

    supported_boot_interfaces = ("noop",)
    supported_deploy_interfaces = ("noop",)
    supported_management_interfaces = ("noop",)
    supported_power_interfaces = ("snmp",)
