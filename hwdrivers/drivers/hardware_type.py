"""Hardware types: which interface implementations a kind of machine can use.

A hardware type names implementations by entry-point name, in order of
preference. Declaring one imports no driver library: the loader imports
only implementations that are both supported and enabled in config.
"""

from hwdrivers.common import interface_types

__all__ = [
    "AbstractHardwareType",
]


class AbstractHardwareType:
    """Subclass and list ``supported_<kind>_interfaces`` for each kind.

    Required kinds (boot, deploy, management, power) must be listed; the
    optional ones default to their refusing ``no-<kind>`` implementation.
    """

    description = ""

    supported_boot_interfaces = ()
    supported_deploy_interfaces = ()
    supported_management_interfaces = ()
    supported_power_interfaces = ()
    supported_console_interfaces = ("no-console",)
    supported_inspect_interfaces = ("no-inspect",)
    supported_raid_interfaces = ("no-raid",)
    supported_bios_interfaces = ("no-bios",)
    supported_vendor_interfaces = ("no-vendor",)
    supported_rescue_interfaces = ("no-rescue",)

    #: Entry-point name; the loader sets it on the instance it creates.
    name = None

    def supported_interfaces(self, kind):
        if kind not in interface_types.ALL:
            raise ValueError("unknown interface kind %r" % kind)
        return list(getattr(self, "supported_%s_interfaces" % kind))

    def __repr__(self):
        return "<hardware type %s>" % (self.name or type(self).__name__)
