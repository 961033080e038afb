"""[console]: the serial-console proxies the conductor runs (see doc/console.md)."""

from oslo_config import cfg

from hwdrivers.conf import finite

group = cfg.OptGroup("console", help="Serial consoles: the conductor's console "
                                     "manager runs one proxy per enabled console, "
                                     "listening on a TCP port of this host.")


class PortRange(cfg.types.String):
    """``START:END``, both TCP ports, START <= END."""

    def __init__(self):
        super().__init__(type_name="port range")

    def __call__(self, value):
        value = super().__call__(value).strip()
        start, sep, end = value.partition(":")
        try:
            first, last = int(start), int(end)
        except ValueError:
            raise ValueError("%r is not START:END (e.g. 10000:10999)" % value) from None
        if not sep or not 1 <= first <= last <= 65535:
            raise ValueError("%r is not START:END with 1 <= START <= END <= 65535" % value)
        return "%d:%d" % (first, last)


opts = [
    cfg.StrOpt("host", default="127.0.0.1",
               # Ironic's name for the same thing (where socat listens, and the
               # URL's host): configs moved from Ironic keep working.
               deprecated_opts=[cfg.DeprecatedOpt("socat_address", group="console")],
               help="Address the console proxies listen on, and the host of the "
                    "tcp:// URL a console's info gives clients. Consoles have no "
                    "authentication of their own: anyone who can reach this "
                    "address and a console's port is typing on that machine's "
                    "serial port. Keep the loopback default and reach it through "
                    "SSH, or set an address of a management network and restrict "
                    "it with allowed_clients and a firewall. A wildcard (0.0.0.0, "
                    "::) listens everywhere; the URL then names public_address."),
    cfg.StrOpt("public_address",
               help="Host name or IP address clients are told to connect to: the "
                    "host of the tcp:// URL in a console's info, e.g. when "
                    "clients reach this conductor through NAT or by a DNS name "
                    "(Ironic's socat_address is both: here it sets host, and "
                    "through it the URL). Unset: host, or, "
                    "when host is a wildcard, this machine's primary address "
                    "(the source address of its default route). Not [DEFAULT] "
                    "host, which names the conductor and need not be an address "
                    "at all. A bare name or address: no scheme, port or path "
                    "(the port is the console's, from port_range)."),
    cfg.Opt("port_range", type=PortRange(), default="10000:10999",
            help="TCP ports (START:END, inclusive) the proxies take, one per "
                 "enabled console. When all are taken, enabling another console "
                 "is refused, saying so."),
    cfg.ListOpt("allowed_clients", default=[],
                help="Networks (CIDR, e.g. 10.1.0.0/24, ::1/128) whose clients a "
                     "console proxy accepts; anyone else is told so and "
                     "disconnected. Empty: every client that can reach host."),
    finite.FloatOpt("idle_timeout", default=600.0, min=0,
                    help="Seconds a connected client may stay without sending or "
                         "receiving anything before it is disconnected, freeing the "
                         "console for the next one (the console itself, and its "
                         "log, go on). 0: never."),
    finite.FloatOpt("start_timeout", default=30.0, min=1.0,
                    help="Seconds a console session has to come up, in all: the "
                         "cleanup run first (ipmitool sol deactivate) and the "
                         "session itself (ipmitool sol activate, a console "
                         "command). Past it the console is marked failed with what "
                         "the tool said and the BMC it could not reach; an enable "
                         "holds one of change_workers at most this long (plus a "
                         "few seconds to stop what it started)."),
    cfg.IntOpt("change_workers", default=50, min=1,
               help="Console enables and disables this conductor runs at once, in "
                    "workers of their own: never in the conductor's "
                    "[conductor] workers_pool_size, so enabling every console "
                    "while BMCs do not answer cannot starve power actions. When "
                    "all are busy, a further change is refused (503) saying so; "
                    "retry it."),
    cfg.IntOpt("restart_limit", default=8, min=0,
               help="How many times in a row a console whose session ended by "
                    "itself (BMC reset, network loss) is started again, waiting "
                    "1, 2, 4... s (at most 30 s) between tries, before it is "
                    "turned off with the reason. A session that stayed up for a "
                    "minute resets the count. The default waits about 2 minutes "
                    "in all (1+2+4+8+16+30+30+30 s, plus the tries), enough for "
                    "a BMC's cold reset; 3 gave up after about 20 s, turning "
                    "consoles off on every BMC reset. The same tries bound the "
                    "restore of a console enabled before a conductor restart "
                    "whose BMC does not answer yet."),
    cfg.IntOpt("log_max_bytes", default=1024 * 1024, min=4096,
               help="Size of a node's console log file "
                    "(<state_path>/console/<node uuid>.log) at which it is "
                    "rotated to .log.1 (the previous .log.1 going to .log.2...)."),
    cfg.IntOpt("log_backups", default=1, min=0,
               help="Rotated console log files kept per node: a node's console "
                    "takes at most log_max_bytes * (log_backups + 1) of disk."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
