"""[json_rpc]: how hwdrivers-api reaches the conductors (Ironic's JSON-RPC over HTTP).

Each ``hwdrivers-conductor`` listens on ``host_ip``/``port`` and records the
URL other processes reach it at in its conductors row; an API process picks
the owning conductor from the hash ring and POSTs a JSON-RPC 2.0 request
there. The option names follow Ironic's ``[json_rpc]`` group.
"""

from oslo_config import cfg

from hwdrivers.conf import finite

group = cfg.OptGroup("json_rpc", help="JSON-RPC between hwdrivers-api and "
                                      "hwdrivers-conductor processes.")

opts = [
    cfg.HostAddressOpt("host_ip", default="127.0.0.1",
                       help="Address the conductor's JSON-RPC listener binds. Set "
                            "it to an address the API machines can reach (and "
                            "auth_strategy = http_basic) when they run elsewhere."),
    cfg.PortOpt("port", default=8089,
                help="TCP port of the conductor's JSON-RPC listener (Ironic's "
                     "default; 0 picks a free port, which is then recorded)."),
    cfg.StrOpt("advertise_host",
               help="Host name or address the API processes use to reach this "
                    "conductor. Unset: host_ip, or this machine's host name "
                    "when host_ip is a wildcard (0.0.0.0, ::)."),
    cfg.StrOpt("auth_strategy", default="noauth",
               choices=[("noauth", "no authentication; the listener must then "
                                   "bind a loopback address"),
                        ("http_basic", "HTTP Basic against the bcrypt htpasswd "
                                       "file http_basic_auth_user_file")],
               help="How the conductor authenticates JSON-RPC calls. With "
                    "noauth a non-loopback host_ip is refused at start-up: "
                    "anyone reaching the port could power machines off."),
    cfg.StrOpt("http_basic_auth_user_file", default="/etc/hwdrivers/htpasswd-json-rpc",
               help="bcrypt htpasswd file of the users allowed to call the "
                    "conductor (auth_strategy = http_basic)."),
    cfg.StrOpt("http_basic_username",
               help="User name the API processes send to the conductors."),
    cfg.StrOpt("http_basic_password", secret=True,
               help="Password the API processes send to the conductors."),
    finite.FloatOpt("timeout", default=150.0, min=1,
                    help="Seconds an API process waits for a conductor's answer "
                         "before answering 503. Asynchronous actions answer at once "
                         "(the work runs in a conductor worker); synchronous "
                         "hardware calls (boot device, sensors, NMI) wait up to the "
                         "conductor's [api] hardware_call_timeout (120 s): "
                         "hwdrivers-api refuses to start unless this is at least "
                         "15 s above it (an API process that gives up first takes "
                         "the conductor for a silent one)."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
