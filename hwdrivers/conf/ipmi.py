"""[ipmi]: options of the ipmi driver."""

from oslo_config import cfg

from hwdrivers.conf import driver_common

group = cfg.OptGroup("ipmi", help="The ipmi driver.")

opts = driver_common.controller_opts(max_concurrency=4, min_interval=0.0,
                                     retry_timeout=30.0) + [
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
