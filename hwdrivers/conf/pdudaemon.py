"""[pdudaemon]: the PDUDaemon-compatible listener (off by default).

Tools written for PDUDaemon (LAVA, board farms) send
``GET /power/control/{on,off,reboot}?hostname=<pdu>&port=<outlet>`` or, with
``listener = tcp``, ``<pdu> <outlet> <command>`` over TCP (pduclient's default
mode); the listener maps the PDU and outlet to the node whose driver_info has that
``snmp_address`` and ``snmp_outlet`` and runs the operation through the
conductor, so it shares the per-controller queues of every other caller.
Like PDUDaemon it has no authentication, hence loopback by default.
"""

from oslo_config import cfg

from hwdrivers.conf import finite

group = cfg.OptGroup("pdudaemon", help="PDUDaemon-compatible listener.")

opts = [
    cfg.BoolOpt("enabled", default=False,
                help="Serve a PDUDaemon protocol from hwdrivers-server."),
    cfg.StrOpt("listener", default="http", choices=[
        ("http", "GET /power/control/<command>?hostname=&port=[&delay=] "
                 "(pduclient -H)"),
        ("tcp", "one '<hostname> <port> <command> [<delay>]' line per "
                "connection, answered ack or nack (pduclient's default mode)")],
               help="Which PDUDaemon protocol to serve. pduclient uses port "
                    "16421 for both, so PDUDaemon serves one or the other, "
                    "and so does hwdrivers."),
    cfg.HostAddressOpt("host", default="127.0.0.1",
                       help="Address to listen on. The protocol has no "
                            "authentication: anything but a loopback address "
                            "also needs allow_remote = true."),
    cfg.PortOpt("port", default=16421,
                help="TCP port to listen on (PDUDaemon's default)."),
    cfg.BoolOpt("allow_remote", default=False,
                help="Allow a non-loopback host. Anyone who can reach the "
                     "port can then power nodes on and off: only set this on "
                     "a trusted network."),
    finite.FloatOpt("max_delay", default=3600.0, min=0,
                    help="Largest 'delay' (seconds) a request may ask for; "
                         "larger values are refused with 400."),
    finite.FloatOpt("queue_timeout", default=300.0, min=0, max=86400,
                    help="Seconds a request for a node busy with another "
                         "operation waits its turn (requests for one node run "
                         "in the order they came, as PDUDaemon queues them); "
                         "one still waiting then is dropped and logged."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
