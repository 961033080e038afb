"""[snmp]: options of the snmp driver (PDU outlets over SNMP)."""

from oslo_config import cfg

from hwdrivers.conf import driver_common
from hwdrivers.conf import finite

group = cfg.OptGroup("snmp", help="The snmp driver: PDU outlet power over SNMP.")

opts = driver_common.controller_opts(max_concurrency=1, min_interval=0.0,
                                     retry_timeout=10.0) + [
    # Ironic's names are read too, so a [snmp] section moved over keeps its
    # tuning for a slow PDU instead of being silently ignored.
    finite.FloatOpt("timeout", default=1.0, min=0.1,
                    deprecated_opts=[cfg.DeprecatedOpt("udp_transport_timeout",
                                                       group="snmp")],
                    help="Seconds to wait for the PDU to answer one SNMP request "
                         "before sending it again (Ironic's udp_transport_timeout "
                         "is read as this option)."),
    cfg.IntOpt("retries", default=2, min=0,
               deprecated_opts=[cfg.DeprecatedOpt("udp_transport_retries", group="snmp")],
               help="How many times an unanswered SNMP request is sent again "
                    "before the call fails with a connection error (so one "
                    "request waits at most timeout * (retries + 1) seconds, "
                    "which must not exceed command_timeout; Ironic's "
                    "udp_transport_retries is read as this option)."),
    finite.FloatOpt("command_timeout", default=5.0, min=0.1,
                    help="Seconds one SNMP request may take in all, resends "
                         "included; timeout * (retries + 1) must fit in it (the "
                         "snmp driver refuses to start otherwise). An operation "
                         "on a PDU that does not answer ends within "
                         "command_retry_timeout + command_timeout + 1 s; a power "
                         "change the PDU accepted may then also wait "
                         "power_timeout (and reboot_delay) for the outlet."),
    finite.FloatOpt("reboot_delay", default=5.0, min=0, max=3600,
                    help="Seconds an outlet stays off during a reboot (off, wait, "
                         "on), unless the node sets driver_info snmp_reboot_delay. "
                         "At most an hour: the wait holds every outlet of the PDU."),
    finite.FloatOpt("power_timeout", default=10.0, min=0,
                    help="Seconds to wait, after switching an outlet, for the PDU "
                         "to report the new state (PDUs that sequence outlets "
                         "switch with a delay)."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
