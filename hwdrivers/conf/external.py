"""[external]: options of the external driver."""

from oslo_config import cfg

from hwdrivers.conf import driver_common

group = cfg.OptGroup("external", help="The external driver: power-driver executables "
                                      "speaking the MAAS JSON protocol.")

opts = driver_common.controller_opts(max_concurrency=1, min_interval=0.0,
                                     retry_timeout=10.0) + [
    cfg.FloatOpt("timeout", default=30.0, min=0.1,
                 help="Seconds one run of a driver executable may take; after it "
                      "the executable and everything it started (its process "
                      "group) are killed and the call fails with a connection error."),
    cfg.ListOpt("allowed_executable_dirs",
                default=["/usr/lib/hwdrivers/external", "/usr/local/lib/hwdrivers/external"],
                help="Directories external_executable must be in (after resolving "
                     "symbolic links). Whoever may set a node's driver_info chooses "
                     "what the conductor runs, so only executables an administrator "
                     "installed here are accepted. '/' allows any path."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
