"""[redfish]: options of the redfish driver."""

from oslo_config import cfg

from hwdrivers.conf import driver_common
from hwdrivers.conf import finite

group = cfg.OptGroup("redfish", help="The redfish driver.")

opts = driver_common.controller_opts(max_concurrency=4, min_interval=0.0,
                                     retry_timeout=30.0) + [
    cfg.IntOpt("connection_cache_size", default=1000, min=0,
               help="Redfish connections (sushy clients, with their sessions) "
                    "kept for reuse, one per BMC address, user name, TLS "
                    "verification and auth type; the least recently used is "
                    "closed when the cache is full. 0 disables reuse: every "
                    "call logs in and out again."),
    finite.FloatOpt("connect_timeout", default=10.0, min=0.1,
                    help="Seconds to wait for the TCP (and TLS) connection to a "
                         "BMC before the attempt fails as a connection error "
                         "(never more than what command_timeout leaves)."),
    finite.FloatOpt("read_timeout", default=30.0, min=0.1,
                    help="Seconds to wait for a BMC's answer to one request once "
                         "connected (never more than what command_timeout "
                         "leaves)."),
    finite.FloatOpt("command_timeout", default=60.0, min=1.0,
                    help="Seconds one call to a BMC may take in all: connecting, "
                         "logging in and every request of one action (each "
                         "request's connect and read timeouts are cut to what is "
                         "left), after which it fails as a connection error. An "
                         "operation on a BMC that does not answer ends within "
                         "command_retry_timeout + command_timeout + 1 s."),
    finite.FloatOpt("bios_verify_timeout", default=300.0, min=1.0,
                    help="Seconds the BIOS clean steps (apply_configuration, "
                         "factory_reset) wait after their reboot for the BMC to "
                         "report the new settings before the step fails naming "
                         "each attribute that did not change. Large servers can "
                         "take longer than the default to POST after a BIOS "
                         "change."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
