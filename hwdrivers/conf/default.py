"""[DEFAULT]: which hardware types and interfaces are enabled, and where state lives."""

import os
import socket

from oslo_config import cfg

from hwdrivers.common import interface_types

#: Implementations enabled out of the box, per interface kind: fake-hardware
#: and every in-tree driver, so ``hwdrivers node create --driver ipmi`` works
#: with no config file, from the CLI and the server alike. Enabling costs
#: nothing: each module imports its library (sushy, pysnmp...) on first use.
#: Every name here must have an entry point in setup.cfg, or start-up fails.
DEFAULT_ENABLED = {
    "boot": ["fake", "noop", "ipxe", "redfish-virtual-media"],
    "console": ["fake", "no-console", "ipmitool-socat", "command"],
    "deploy": ["fake", "noop", "direct"],
    "inspect": ["fake", "no-inspect", "redfish", "agent"],
    "management": ["fake", "ipmitool", "redfish", "external", "noop"],
    "power": ["fake", "ipmitool", "redfish", "snmp", "command", "external"],
    "raid": ["fake", "no-raid"],
    "bios": ["fake", "no-bios", "redfish"],
    "vendor": ["fake", "no-vendor"],
    "rescue": ["fake", "no-rescue"],
}

DEFAULT_HARDWARE_TYPES = ["fake-hardware", "ipmi", "redfish", "snmp", "command",
                          "external"]


def _default_state_path():
    return os.environ.get(
        "HWDRIVERS_STATE_PATH",
        os.path.join(os.path.expanduser("~"), ".local", "state", "hwdrivers"))


def _interface_opts():
    opts = []
    for kind in interface_types.ALL:
        opts.append(cfg.ListOpt(
            "enabled_%s_interfaces" % kind,
            default=DEFAULT_ENABLED[kind],
            help="Implementations of the %s interface to load, by entry-point "
                 "name in the hwdrivers.hardware.interfaces.%s namespace. Only "
                 "these are ever imported; a node may use any of them that "
                 "its hardware type supports." % (kind, kind)))
        opts.append(cfg.StrOpt(
            "default_%s_interface" % kind,
            help="The %s interface a node gets when it names none. Unset: the "
                 "first implementation its hardware type supports that is "
                 "enabled. [hardware_type:<name>] default_%s_interface "
                 "overrides this for one hardware type." % (kind, kind)))
    return opts


opts = [
    cfg.ListOpt("enabled_hardware_types", default=DEFAULT_HARDWARE_TYPES,
                help="Hardware types to load, by entry-point name in the "
                     "hwdrivers.hardware.types namespace."),
    cfg.StrOpt("host", default=socket.gethostname(),
               sample_default="localhost",
               help="Name of this conductor; owner of the node locks it takes."),
    cfg.StrOpt("state_path", default=_default_state_path(),
               sample_default="$HOME/.local/state/hwdrivers",
               help="Directory for the embedded database and other state. "
                    "Also set by the HWDRIVERS_STATE_PATH environment variable."),
] + _interface_opts()


def register_opts(conf):
    conf.register_opts(opts)
