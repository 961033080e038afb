"""Helpers every benchmark shares: a private database, statistics, tables.

Benchmarks are plain scripts that print figures; they never assert timings.
Medians and ratios over repetitions, because the machines are shared.
"""

import contextlib
import os
import statistics
import sys
import tempfile
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from hwdrivers import conf as hw_conf  # noqa: E402
from hwdrivers.db import engine as db_engine  # noqa: E402
from hwdrivers.db import migration  # noqa: E402
from hwdrivers.drivers import factory  # noqa: E402

CONF = hw_conf.CONF
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def configure(**overrides):
    """Fresh configuration (no files), then ``group__option=value`` overrides."""
    CONF([], project="hwdrivers", default_config_files=[])
    for key, value in overrides.items():
        group, _, name = key.rpartition("__")
        CONF.set_override(name, value, group=group or None)
    factory.reset()


@contextlib.contextmanager
def database(backend):
    """A migrated, empty database of ``backend`` ("sqlite" or "postgresql").

    Yields None (and prints why) when PostgreSQL cannot be reached.
    """
    db_engine.dispose()
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="hwbench-") as tmp:
            CONF.set_override("state_path", tmp)
            CONF.set_override("connection", "sqlite:///%s/bench.sqlite" % tmp,
                              group="database")
            migration.upgrade()
            try:
                yield backend
            finally:
                db_engine.dispose()
        return
    import sqlalchemy as sa
    schema = "hwbench_%d_%s" % (os.getpid(), uuid.uuid4().hex[:6])
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql('CREATE SCHEMA "%s"' % schema)
    except Exception as exc:
        print("  (PostgreSQL unreachable, skipped: %s)"
              % str(getattr(exc, "orig", exc)).splitlines()[0])
        admin.dispose()
        yield None
        return
    CONF.set_override("connection", "%s?options=-csearch_path%%3D%s" % (PG_ADMIN_URL, schema),
                      group="database")
    try:
        migration.upgrade()
        yield backend
    finally:
        db_engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP SCHEMA IF EXISTS "%s" CASCADE' % schema)
        admin.dispose()


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def median(values):
    return statistics.median(values) if values else float("nan")


def print_table(title, columns, rows):
    """A plain fixed-width table: the figures a benchmark publishes."""
    cells = [[str(c) for c in columns]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    print("\n%s" % title)
    for n, row in enumerate(cells):
        print("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths)))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _fmt(value):
    if isinstance(value, float):
        if value != value:
            return "-"
        return "%.3f" % value if abs(value) < 100 else "%.1f" % value
    return str(value)
