"""[database]: where nodes, ports and conductors are stored."""

from oslo_config import cfg

from hwdrivers.conf import finite

group = cfg.OptGroup("database", help="Database connection.")

opts = [
    cfg.StrOpt("connection", secret=True,
               help="SQLAlchemy URL. Unset: an SQLite file at "
                    "$state_path/hwdrivers.sqlite (embedded default). For "
                    "several conductors use PostgreSQL, e.g. "
                    "postgresql+psycopg://user@host/hwdrivers."),
    cfg.IntOpt("pool_size", default=10, min=1,
               help="Connections kept open per process."),
    cfg.IntOpt("max_overflow", default=20, min=0,
               help="Connections allowed beyond pool_size under load."),
    finite.FloatOpt("sqlite_busy_timeout", default=30.0, min=0,
                    help="Seconds an SQLite writer waits for another writer "
                         "before giving up."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
