"""[inspector]: what an inspection does with the network interfaces it finds.

Ironic's option names, values and defaults (its built-in inspector's
``ports`` hook): which of the inventory's MACs become ports, which of the
node's ports an inspection keeps, and whether it sets ``pxe_enabled`` from
the interface the machine network-booted from.
"""

from oslo_config import cfg

group = cfg.OptGroup("inspector", help="Inspection: the ports it creates, keeps and "
                                       "marks as PXE booting.")

#: ``[inspector] add_ports`` values, as Ironic's.
ADD_PORTS = {
    "all": "all MAC addresses",
    "active": "MAC addresses of NICs with an IP address",
    "pxe": "only the MAC address of the NIC the machine network-booted from (all of "
           "them when the inventory does not say which one it is)",
    "disabled": "do not create ports from the inventory",
}
#: ``[inspector] keep_ports`` values, as Ironic's.
KEEP_PORTS = {
    "all": "keep every port, even one whose MAC the inventory does not list",
    "present": "keep only ports whose MAC the inventory lists",
    "added": "keep only ports of the MACs add_ports selects",
}

opts = [
    cfg.StrOpt("add_ports", default="pxe", choices=list(ADD_PORTS.items()),
               help="Which MAC addresses of an inspected inventory become ports "
                    "(Ironic's option and default)."),
    cfg.StrOpt("keep_ports", default="all", choices=list(KEEP_PORTS.items()),
               help="Which of the node's ports an inspection keeps; the others "
                    "are deleted (Ironic's option and default)."),
    cfg.BoolOpt("update_pxe_enabled", default=True,
                help="Set each port's pxe_enabled from the inventory: true for the "
                     "port of the interface the machine network-booted from "
                     "(inventory boot.pxe_interface), false for the others. An "
                     "inventory that does not name that interface (out-of-band "
                     "inspection) changes no port's pxe_enabled."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
