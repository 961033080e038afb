"""[hardware_type:<name>]: per-hardware-type default interfaces.

One global ``default_power_interface`` cannot fit a fleet that mixes IPMI
servers and PDU-powered boards, so each enabled hardware type gets its own
group; the loader registers it when the type is enabled.
"""

from oslo_config import cfg

from hwdrivers.common import interface_types

GROUP_PREFIX = "hardware_type:"


def group_name(hardware_type):
    return GROUP_PREFIX + hardware_type


def _opts():
    return [
        cfg.StrOpt("default_%s_interface" % kind,
                   help="The %s interface nodes of this hardware type get when "
                        "they name none; overrides [DEFAULT] "
                        "default_%s_interface." % (kind, kind))
        for kind in interface_types.ALL
    ]


def register_group(conf, hardware_type):
    """Register (idempotently) and return the group for ``hardware_type``."""
    name = group_name(hardware_type)
    group = cfg.OptGroup(name, help="Defaults for hardware type %s." % hardware_type)
    conf.register_group(group)
    conf.register_opts(_opts(), group=group)
    return getattr(conf, name)


def list_opts(hardware_types=("fake-hardware",)):
    return [(group_name(name), _opts()) for name in hardware_types]
