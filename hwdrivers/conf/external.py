"""[external]: options of the external driver (executables speaking JSON)."""

from oslo_config import cfg

from hwdrivers.conf import driver_common
from hwdrivers.conf import finite

group = cfg.OptGroup("external", help="The external driver: power-driver executables "
                                      "speaking the MAAS JSON protocol.")

opts = driver_common.controller_opts(max_concurrency=1, min_interval=0.0,
                                     retry_timeout=10.0) + [
    finite.FloatOpt("timeout", default=30.0, min=0.1,
                    help="Seconds one run of a driver executable may take; after it "
                         "the executable and everything it started (even in a new "
                         "session) are killed and the call fails with a connection "
                         "error. One operation ends within command_retry_timeout "
                         "plus this."),
    cfg.ListOpt("driver_paths",
                default=["/usr/lib/hwdrivers/external", "/usr/local/lib/hwdrivers/external"],
                help="Directories holding driver executables. A node's "
                     "driver_info external_driver is either a bare name, looked "
                     "up in these directories in order, or an absolute path, "
                     "which must lie in one of them. Whoever may set a node's "
                     "driver_info chooses what the conductor runs, so only "
                     "executables an administrator installed here are run "
                     "(symbolic links placed here are followed: only an "
                     "administrator can place them). '/' allows any absolute path."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
