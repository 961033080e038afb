"""OpenStack Ironic's side of ``ironic_side_by_side.py``, run with Ironic's interpreter.

This file never imports hwdrivers: it runs in a virtualenv that has Ironic
installed (``ironic_side_by_side.py --install-ironic DIR`` makes one) and
does, in Ironic, what ``ConductorManager.change_power_state`` does in
hwdrivers on fake-hardware: take the node's exclusive lock, validate the
power interface, change the power state, release. That is the body of
Ironic's ``ConductorManager.change_node_power_state`` with the power
action run in the caller's thread instead of a spawned worker::

    with task_manager.acquire(ctx, uuid, shared=False, purpose=...) as task:
        task.driver.power.validate(task)
        conductor_utils.node_power_action(task, states.POWER_ON or POWER_OFF)

(The RPC method also saves ``target_power_state`` once before spawning;
that extra write is left out here, in Ironic's favour.)

Ironic's configuration is made in code: an SQLite file database, the
fake-hardware type with the fake (or noop) implementation of every
interface, no notifications, no RPC. SQLite's settings, ``--sqlite``:

* ``as-shipped`` (default): what Ironic itself ends up with, the figure an
  operator of Ironic on SQLite gets. Ironic means to use WAL on SQLite
  (``ironic/db/sqlalchemy/__init__.py`` runs ``PRAGMA journal_mode=WAL``
  from an ``engine_connect`` listener), but in Ironic 39.0.0 that listener
  never runs (checked with SQLAlchemy 2.0.58 and 2.1.9): it is registered
  on the ``ConnectionEvents`` class, which no engine dispatches to (and its
  ``Connection.execute(str)`` would raise if it did). So the file stays in
  rollback-journal mode (``delete``) with SQLite's default
  ``synchronous=FULL`` (oslo.db can only switch it OFF).
* ``wal-normal``: WAL and ``synchronous=NORMAL``, what hwdrivers and the raw
  floor use, so the comparison is of the software rather than of fsync.
  WAL is set once on the file, where it persists. oslo.db gives SQLite
  files a ``NullPool`` (a new ``sqlite3`` connection per session, about
  ten per power action), and SQLite checkpoints and deletes the WAL
  whenever its last connection closes; one idle connection is held open
  for the run so that does not happen on every session, as it would not
  in a server with other sessions open: Ironic's best case for WAL.

The journal mode and ``synchronous`` actually in force are read back from
the database and reported.

It talks to its parent over stdin/stdout, one line each way, so the parent
can interleave Ironic with hwdrivers (A B A B) while each side keeps its
nodes and warm caches::

    parent reads   READY {"ironic": "39.0.0", "journal_mode": "wal", ...}
    parent writes  run K      ->  RESULT {"seconds": [...]}        (K timed operations)
    parent writes  count K    ->  RESULT {"statements": ..., ...}  (K counted operations)
    parent writes  quit (or closes stdin)

:class:`Schedule` and :class:`SqlCounter` are stdlib + SQLAlchemy only, so
the parent imports them too: both sides run the same operations in the
same order and are counted by the same code.
"""

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time

import sqlalchemy as sa


class Schedule:
    """Which node to act on next and to which state: every operation changes state.

    Nodes are taken round robin, each toggled from its current state, so no
    operation is a "nothing to do" short cut, whatever ``K`` and ``N`` are.
    """

    def __init__(self, node_ids, initial="power off"):
        self.node_ids = list(node_ids)
        self.states = [initial] * len(self.node_ids)
        self.cursor = 0

    def next(self):
        index = self.cursor % len(self.node_ids)
        self.cursor += 1
        target = "power on" if self.states[index] == "power off" else "power off"
        self.states[index] = target
        return self.node_ids[index], target


class SqlCounter:
    """Statements and commits per operation, seen by SQLite and by SQLAlchemy.

    SQLite's own trace (``sqlite3.Connection.set_trace_callback``) sees every
    statement the library runs, whether it came through SQLAlchemy or the
    DB-API directly, so it is the figure compared across systems:

    * ``statements``: everything but transaction control (BEGIN, COMMIT,
      ROLLBACK, SAVEPOINT, RELEASE): queries, UPDATEs, PRAGMAs;
    * ``commits``: COMMITs;
    * ``sqlite_all``: every traced statement, transaction control included.

    SQLAlchemy's ``before_cursor_execute`` and ``commit`` events are counted
    too (``sa_statements``, ``sa_commits``): they miss whatever a program
    runs on the DB-API connection itself (a raw ``BEGIN``, a hot path
    through the cursor), which is why they are not the headline.

    Listeners cost time on every statement, so counting is a pass of its
    own after the timed ones. Tracing reaches connections opened after
    :meth:`start` (a pool ``connect`` event): dispose of the engine's pool
    after starting, so that every connection is a new, traced one.
    """

    FIELDS = ("statements", "commits", "sqlite_all", "sa_statements", "sa_commits")
    _CONTROL = ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE")

    def __init__(self):
        self.active = False
        self.recorded = None  # a list: the text of each traced statement goes there
        self.reset()

    def reset(self):
        for name in self.FIELDS:
            setattr(self, name, 0)

    def start(self):
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._on_statement)
        sa.event.listen(sa.engine.Engine, "commit", self._on_commit)
        sa.event.listen(sa.pool.Pool, "connect", self._on_connect)
        self.active = True

    def trace(self, dbapi_connection):
        """Trace a raw ``sqlite3`` connection (one the caller opened itself)."""
        dbapi_connection.set_trace_callback(self._on_trace)

    def totals(self, ops):
        """Each count divided by ``ops``, and ``ops``."""
        result = {name: getattr(self, name) / ops for name in self.FIELDS}
        result["ops"] = ops
        return result

    def _on_statement(self, *_args, **_kwargs):
        if self.active:
            self.sa_statements += 1

    def _on_commit(self, *_args, **_kwargs):
        if self.active:
            self.sa_commits += 1

    def _on_connect(self, dbapi_connection, _record):
        if hasattr(dbapi_connection, "set_trace_callback"):  # sqlite3 only
            self.trace(dbapi_connection)

    def _on_trace(self, statement):
        if not self.active:
            return
        if self.recorded is not None:
            self.recorded.append(" ".join(statement.split())[:160])
        self.sqlite_all += 1
        word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if word in ("COMMIT", "END"):
            self.commits += 1
        elif word not in self._CONTROL:
            self.statements += 1


def sample_and_stop(counter, operation, ops):
    """The counter's totals over ``ops``, with the statements of one more operation."""
    totals = counter.totals(ops)
    counter.recorded = []
    operation()
    totals["sample"], counter.recorded, counter.active = counter.recorded, None, False
    return totals


# -- Ironic ------------------------------------------------------------------------

def configure_ironic(database, sqlite):
    """Ironic's CONF for fake-hardware on an SQLite file, set in code (no files)."""
    for name in ("IRONIC_CONFIG_FILE", "IRONIC_CONFIG_DIR"):
        os.environ.pop(name, None)
    from oslo_config import cfg

    import ironic.conf  # noqa: F401  (registers every option)
    from ironic.common import config as ironic_config
    from ironic.db.sqlalchemy import models  # noqa: F401  (registers [database])
    from ironic.drivers import base as drivers_base

    conf = cfg.CONF
    ironic_config.parse_args([], default_config_files=[])
    conf.set_override("host", "bench-conductor")
    conf.set_override("rpc_transport", "none")
    conf.set_override("enabled_hardware_types", ["fake-hardware"])
    for iface in drivers_base.ALL_INTERFACES:
        name = "noop" if iface in ("network", "storage") else "fake"
        conf.set_override("enabled_%s_interfaces" % iface, [name])
        conf.set_override("default_%s_interface" % iface, name)
    conf.set_override("connection", "sqlite:///%s" % database, group="database")
    if sqlite == "wal-normal":
        # A pool event, run as each connection opens: no per-statement cost.
        def _normal(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")
        sa.event.listen(sa.pool.Pool, "connect", _normal)
    return conf


def create_nodes(ctx, count):
    """``count`` fake-hardware nodes, powered off, made as Ironic's API makes them."""
    from oslo_utils import uuidutils

    from ironic.common import driver_factory
    from ironic import objects

    uuids = []
    for index in range(count):
        node = objects.Node(ctx, uuid=uuidutils.generate_uuid(), driver="fake-hardware",
                            name="bench-%06d" % index,
                            power_state="power off", provision_state="enroll",
                            driver_info={}, properties={}, extra={}, instance_info={})
        driver_factory.check_and_update_node_interfaces(node)
        node.create()
        uuids.append(node.uuid)
    return uuids


class IronicSide:
    """N nodes in Ironic and the exclusive power action of its conductor."""

    def __init__(self, nodes, sqlite, workdir):
        self.database = os.path.join(workdir, "ironic.sqlite")
        self.conf = configure_ironic(self.database, sqlite)
        from oslo_db.sqlalchemy import enginefacade

        from ironic.common import context as ironic_context
        from ironic.common import states
        from ironic.conductor import task_manager
        from ironic.conductor import utils as conductor_utils
        from ironic.db import migration
        from ironic import objects

        objects.register_all()
        migration.create_schema()
        self.engine = enginefacade.writer.get_engine()
        self.held = None
        if sqlite == "wal-normal":
            # WAL is a property of the file: set once, every connection uses it.
            self.engine.dispose()
            self.held = sqlite3.connect(self.database, isolation_level=None)
            self.held.execute("PRAGMA journal_mode = WAL")
        self.ctx = ironic_context.get_admin_context()
        self.task_manager = task_manager
        self.power_action = conductor_utils.node_power_action
        self.states = {"power on": states.POWER_ON, "power off": states.POWER_OFF}
        self.schedule = Schedule(create_nodes(self.ctx, nodes))

    def operation(self):
        uuid, target = self.schedule.next()
        with self.task_manager.acquire(self.ctx, uuid, shared=False,
                                       purpose="changing node power state") as task:
            task.driver.power.validate(task)
            self.power_action(task, self.states[target])

    def run(self, ops):
        seconds = []
        for _ in range(ops):
            start = time.perf_counter()
            self.operation()
            seconds.append(time.perf_counter() - start)
        return {"seconds": seconds}

    def count(self, ops):
        counter = SqlCounter()
        counter.start()
        self.engine.dispose()  # new connections, so SQLite's trace sees them
        counter.active = False
        self.operation()  # opens and sets up the new connection: not counted
        counter.active = True
        counter.reset()
        for _ in range(ops):
            self.operation()
        return sample_and_stop(counter, self.operation, ops)

    def facts(self):
        from importlib import metadata
        with self.engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
        return {"ironic": metadata.version("ironic"),
                "sqlalchemy": metadata.version("SQLAlchemy"),
                "oslo.db": metadata.version("oslo.db"),
                "python": "%d.%d.%d" % sys.version_info[:3],
                "journal_mode": journal,
                "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
                    synchronous, str(synchronous))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--sqlite", choices=("as-shipped", "wal-normal"),
                        default="as-shipped",
                        help="as-shipped: the journal mode and synchronous Ironic ends up "
                             "with; wal-normal: WAL and synchronous=NORMAL, as hwdrivers "
                             "and the raw floor use")
    args = parser.parse_args(argv)
    import logging
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ironic-bench-") as workdir:
        started = time.perf_counter()
        side = IronicSide(args.nodes, args.sqlite, workdir)
        side.run(args.warmup)
        facts = side.facts()
        facts["setup_seconds"] = time.perf_counter() - started
        print("READY " + json.dumps(facts), flush=True)
        for line in sys.stdin:
            command, _, value = line.strip().partition(" ")
            if command == "run":
                result = side.run(int(value))
            elif command == "count":
                result = side.count(int(value))
            elif command in ("quit", ""):
                break
            else:
                result = {"error": "unknown command %r (run K, count K, quit)" % command}
            print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
