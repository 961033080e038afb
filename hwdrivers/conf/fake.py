"""[fake]: delays for fake-hardware, so scale tests can model slow BMCs."""

from oslo_config import cfg

from hwdrivers.conf import finite

group = cfg.OptGroup("fake", help="fake-hardware behaviour.")

_HELP = ("Seconds each %s call of fake-hardware sleeps: a number (0.1) or a "
         "range (0.05,0.2) picked uniformly per call. Models a slow BMC.")

opts = [
    cfg.StrOpt("%s_delay" % kind, default="0", help=_HELP % kind)
    for kind in ("power", "management", "boot", "deploy", "vendor",
                 "console", "inspect", "raid", "bios", "rescue")
] + [
    cfg.IntOpt("max_concurrency", default=1, min=1,
               help="Commands at once to one simulated controller (nodes sharing "
                    "driver_info fake_controller)."),
    finite.FloatOpt("min_command_interval", default=0.0, min=0,
                    help="Seconds between commands to one simulated controller."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
