"""[ipmi]: options of the ipmi driver (BMCs over IPMI, through ipmitool)."""

from oslo_config import cfg

from hwdrivers.conf import driver_common
from hwdrivers.conf import finite

group = cfg.OptGroup("ipmi", help="The ipmi driver: BMCs over IPMI 2.0 lanplus "
                                  "(or 1.5 lan) through the ipmitool program.")

opts = driver_common.controller_opts(max_concurrency=4, min_interval=0.0,
                                     retry_timeout=30.0) + [
    cfg.StrOpt("ipmitool_path", default="ipmitool",
               help="The ipmitool program: a name looked up on PATH, or an "
                    "absolute path (Debian: apt install ipmitool)."),
    cfg.IntOpt("timeout", default=1, min=1,
               help="Seconds ipmitool waits for the BMC to answer one IPMI "
                    "message before sending it again (ipmitool -N; whole "
                    "seconds)."),
    cfg.IntOpt("retries", default=1, min=1,
               help="How many times ipmitool sends an unanswered message "
                    "again (ipmitool -R). ipmitool lengthens each wait, so a "
                    "BMC that never answers fails one call after about "
                    "timeout * retries * (retries + 1) seconds (2 s with the "
                    "defaults), which must be less than command_timeout (the "
                    "driver refuses to start otherwise); "
                    "command_retry_timeout then decides whether to try "
                    "again."),
    finite.FloatOpt("command_timeout", default=60.0, min=1.0,
                    help="Seconds one ipmitool run may take in all (reading "
                         "every sensor of a large SDR takes a while) before its "
                         "process group is killed and the call fails as a "
                         "connection error. An operation on a BMC that does not "
                         "answer ends within command_retry_timeout + "
                         "command_timeout + 1 s."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
