"""One exclusive power action in OpenStack Ironic, in hwdrivers and in raw sqlite3, side by side.

The same work three ways, in one run on one machine, interleaved (Ironic,
hwdrivers, floor; again; again) so that the machine's load falls on all of
them alike:

* **Ironic**: ``task_manager.acquire(shared=False)`` + power ``validate`` +
  ``conductor_utils.node_power_action`` on fake-hardware, SQLite file
  database, N nodes made through Ironic's objects. It runs in Ironic's
  own virtualenv (``--ironic-python``, or ``--install-ironic DIR`` to make
  one), never in the project's: ``_ironic_power_action.py`` is the driver
  run there, and it never imports hwdrivers.
* **hwdrivers**: ``ConductorManager.change_power_state`` on fake-hardware
  with no delay, SQLite WAL file database (as ``op_overhead.py``).
* **floor**: the least any implementation must do, with the plain
  ``sqlite3`` module on hwdrivers' own ``nodes`` table and rows (WAL,
  ``synchronous=NORMAL``): one transaction whose ``UPDATE ... RETURNING``
  takes the lease and publishes the target, one whose ``UPDATE`` records
  the state and releases.

Every operation changes a node's state (nodes round robin, each toggled),
in the same order on every side. Timed passes run without instrumentation;
statements and commits are counted afterwards in a pass of their own, by
SQLite's trace (everything the library ran, whatever the path: the
figures compared) and by SQLAlchemy's ``before_cursor_execute`` and
``commit`` events (which miss work done on the DB-API connection itself).
Ratios are medians of the per-pair ratios.

Without ``--ironic-python`` it prints hwdrivers and the floor, and how to
get the Ironic column.
"""

import argparse
import datetime
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import _ironic_power_action as shared  # noqa: E402
from benchmarks import common  # noqa: E402
from hwdrivers.common import context as hw_context  # noqa: E402
from hwdrivers.conductor import manager as manager_mod  # noqa: E402
from hwdrivers.db import engine as db_engine  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "_ironic_power_action.py")
#: The Ironic release this benchmark was written against and is measured with
#: (the newest on PyPI when written; requires Python >= 3.11).
IRONIC_VERSION = "39.0.0"
#: Default for --ironic-python, so run_all.py can pass it through the environment.
IRONIC_PYTHON_ENV = "HWDRIVERS_IRONIC_PYTHON"
CTX = hw_context.get_admin_context()


def timed(operation, ops):
    seconds = []
    for _ in range(ops):
        start = time.perf_counter()
        operation()
        seconds.append(time.perf_counter() - start)
    return seconds


# -- hwdrivers ---------------------------------------------------------------------

class HwdriversSide:
    """N nodes in hwdrivers (SQLite WAL) and ``ConductorManager.change_power_state``."""

    def __init__(self, nodes):
        self.manager = manager_mod.ConductorManager()
        self.schedule = shared.Schedule(common.bulk_create_nodes(nodes, power_state="power off"))

    def operation(self):
        node_id, target = self.schedule.next()
        self.manager.change_power_state(CTX, node_id, target)

    def run(self, ops):
        return timed(self.operation, ops)

    def count(self, ops):
        counter = shared.SqlCounter()
        counter.start()
        db_engine.dispose()  # new pool, new connections: SQLite's trace sees them
        counter.active = False
        self.operation()  # opens and sets up a connection: not counted
        counter.active = True
        counter.reset()
        for _ in range(ops):
            self.operation()
        return shared.sample_and_stop(counter, self.operation, ops)


# -- the raw floor -----------------------------------------------------------------

class FloorSide:
    """The two transactions of a power action with the ``sqlite3`` module, nothing else.

    On hwdrivers' own database file, table and node rows (so the table is
    identical by construction, whatever the schema becomes), through a
    ``sqlite3`` connection of its own; the two never run at the same time.
    """

    LEASE = ("UPDATE nodes SET reservation = ?, reservation_expires = ?, "
             "target_power_state = ?, updated_at = ? "
             "WHERE id = ? AND (reservation IS NULL OR reservation_expires < ?) "
             "RETURNING *")
    FINISH = ("UPDATE nodes SET power_state = ?, target_power_state = NULL, "
              "reservation = NULL, reservation_expires = NULL, updated_at = ? "
              "WHERE id = ? AND reservation = ?")
    OWNER = "floor-conductor"

    def __init__(self, node_ids):
        path = db_engine.get_engine().url.database
        self.schedule = shared.Schedule(node_ids)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")

    def operation(self):
        node_id, target = self.schedule.next()
        conn = self.conn
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        stamp = now.isoformat(" ")
        expires = (now + datetime.timedelta(seconds=60)).isoformat(" ")
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(self.LEASE, (self.OWNER, expires, target, stamp, node_id,
                                        stamp)).fetchone()
        conn.execute("COMMIT")
        if row is None:
            raise RuntimeError("floor: node %s was not leased" % node_id)
        conn.execute("BEGIN IMMEDIATE")
        done = conn.execute(self.FINISH, (target, stamp, node_id, self.OWNER)).rowcount
        conn.execute("COMMIT")
        if done != 1:
            raise RuntimeError("floor: node %s lost its lease" % node_id)

    def run(self, ops):
        return timed(self.operation, ops)

    def count(self, ops):
        counter = shared.SqlCounter()
        counter.trace(self.conn)
        counter.active = True
        for _ in range(ops):
            self.operation()
        totals = shared.sample_and_stop(counter, self.operation, ops)
        self.conn.set_trace_callback(None)
        totals["sa_statements"] = totals["sa_commits"] = float("nan")  # no SQLAlchemy here
        return totals

    def close(self):
        self.conn.close()


# -- Ironic, in its own interpreter ------------------------------------------------

class IronicError(RuntimeError):
    pass


class IronicSide:
    """``_ironic_power_action.py`` in Ironic's interpreter, driven line by line."""

    def __init__(self, python, nodes, warmup, sqlite, workdir):
        self.log_path = os.path.join(workdir, "ironic.log")
        self._log = open(self.log_path, "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        # -I: Ironic's interpreter sees neither this checkout nor PYTHONPATH.
        self.proc = subprocess.Popen(
            [python, "-I", "-W", "ignore", DRIVER, "--nodes", str(nodes),
             "--warmup", str(warmup), "--sqlite", sqlite],
            cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, bufsize=1)
        self.facts = self._read("READY ")

    def _read(self, prefix):
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
        self.proc.wait()
        raise IronicError("Ironic's driver exited with %s; the end of its log (%s):\n%s"
                          % (self.proc.returncode, self.log_path, self.log_tail()))

    def _ask(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        result = self._read("RESULT ")
        if "error" in result:
            raise IronicError(result["error"])
        return result

    def run(self, ops):
        return self._ask("run %d" % ops)["seconds"]

    def count(self, ops):
        return self._ask("count %d" % ops)

    def log_tail(self, lines=25):
        self._log.flush()
        with open(self.log_path) as log:
            return "".join(log.readlines()[-lines:])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def ironic_version(python):
    """The Ironic version importable by ``python``; IronicError saying why not."""
    try:
        proc = subprocess.run(
            [python, "-I", "-c", "import importlib.metadata as m, ironic; "
             "print(m.version('ironic'))"], capture_output=True, text=True, timeout=120)
    except OSError as error:
        raise IronicError("--ironic-python %s cannot be run (%s); make a virtualenv with "
                          "--install-ironic DIR" % (python, error.strerror or error)) from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise IronicError("--ironic-python %s cannot import ironic (%s); make a virtualenv "
                          "with --install-ironic DIR" % (python, last))
    return proc.stdout.strip()


def install_ironic(directory, version):
    """Make a virtualenv at ``directory`` with ``ironic==version``; its interpreter.

    The interpreter this script runs with makes the venv (Ironic 39 needs
    Python >= 3.11). Re-running on an existing venv only checks the install.
    """
    python = os.path.join(directory, "bin", "python")
    if not os.path.exists(python):
        print("Creating the virtualenv %s (%s -m venv)" % (directory, sys.executable))
        subprocess.run([sys.executable, "-m", "venv", directory], check=True)
    print("Installing ironic==%s into %s (pip; a few minutes the first time)"
          % (version, directory))
    sys.stdout.flush()
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "ironic==%s" % version], check=True)
    return python


# -- the run -----------------------------------------------------------------------

def summarize(name, samples, counts):
    """One row: median of the per-pair medians and p99s, and the counted figures."""
    medians = [common.median(s) * 1e6 for s in samples]
    p99s = [common.percentile(s, 0.99) * 1e6 for s in samples]
    via_sa = "-"
    if counts["sa_statements"] == counts["sa_statements"]:  # not NaN
        via_sa = "%.1f / %.1f" % (counts["sa_statements"], counts["sa_commits"])
    return [name, common.median(medians), common.median(p99s), counts["statements"],
            counts["commits"], counts["sqlite_all"], via_sa]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--ops", type=int, default=2000,
                        help="timed operations per side in each pair")
    parser.add_argument("--pairs", type=int, default=3,
                        help="interleaved repetitions (Ironic, hwdrivers, floor) x PAIRS")
    parser.add_argument("--warmup", type=int, default=50, help="untimed operations per side")
    parser.add_argument("--count-ops", type=int, default=200,
                        help="operations in the (untimed) pass that counts statements")
    parser.add_argument("--show-sql", action="store_true",
                        help="print the statements SQLite ran for one operation of each side")
    parser.add_argument("--ironic-python", metavar="PATH",
                        default=os.environ.get(IRONIC_PYTHON_ENV),
                        help="interpreter of a virtualenv with ironic installed "
                             "(default: $%s)" % IRONIC_PYTHON_ENV)
    parser.add_argument("--install-ironic", metavar="DIR",
                        help="create (or check) a virtualenv at DIR with ironic==%s, then "
                             "measure with it" % IRONIC_VERSION)
    parser.add_argument("--ironic-version", default=IRONIC_VERSION,
                        help="the version --install-ironic installs")
    parser.add_argument("--ironic-sqlite", choices=("as-shipped", "wal-normal"),
                        default="as-shipped",
                        help="Ironic's SQLite settings: what Ironic itself ends up with "
                             "(default), or WAL and synchronous=NORMAL as hwdrivers uses "
                             "(see _ironic_power_action.py)")
    args = parser.parse_args(argv)
    for name in ("nodes", "ops", "pairs", "count_ops"):
        if getattr(args, name) < 1:
            parser.error("--%s must be at least 1" % name.replace("_", "-"))
    if args.install_ironic:
        args.ironic_python = install_ironic(os.path.abspath(args.install_ironic),
                                            args.ironic_version)
    print("Machine: %s" % common.machine())
    ironic = None
    samples = {"Ironic": [], "hwdrivers": [], "floor": []}
    common.configure(conductor__power_state_change_timeout=5)
    with tempfile.TemporaryDirectory(prefix="hwbench-side-") as workdir:
        try:
            if args.ironic_python:
                version = ironic_version(args.ironic_python)
                print("Ironic %s (%s): enrolling %d nodes..." % (version, args.ironic_python,
                                                               args.nodes))
                sys.stdout.flush()
                ironic = IronicSide(args.ironic_python, args.nodes, args.warmup,
                                    args.ironic_sqlite, workdir)
                facts = ironic.facts
                print("  Ironic %s, SQLAlchemy %s, oslo.db %s, Python %s; SQLite journal_mode"
                      "=%s, synchronous=%s (--ironic-sqlite %s); set up in %.0f s"
                      % (facts["ironic"], facts["sqlalchemy"], facts["oslo.db"],
                         facts["python"], facts["journal_mode"], facts["synchronous"],
                         args.ironic_sqlite, facts["setup_seconds"]))
            with common.database("sqlite"):
                hw = HwdriversSide(args.nodes)
                floor = FloorSide(hw.schedule.node_ids)
                hw.run(args.warmup)
                floor.run(args.warmup)
                for pair in range(1, args.pairs + 1):
                    line = []
                    sides = [("Ironic", ironic)] if ironic else []
                    for name, side in sides + [("hwdrivers", hw), ("floor", floor)]:
                        seconds = side.run(args.ops)
                        samples[name].append(seconds)
                        line.append("%s %.3f ms" % (name, common.median(seconds) * 1e3))
                    print("  pair %d/%d (median per op): %s" % (pair, args.pairs,
                                                               ", ".join(line)))
                    sys.stdout.flush()
                counts = {"hwdrivers": hw.count(args.count_ops),
                          "floor": floor.count(args.count_ops)}
                if ironic:
                    counts["Ironic"] = ironic.count(args.count_ops)
                floor.close()
        finally:
            if ironic is not None:
                ironic.close()
    ratios = {}
    for name, base in (("Ironic", "hwdrivers"), ("hwdrivers", "floor")):
        if samples[name]:
            ratios[name] = common.median([common.median(a) / common.median(b)
                                          for a, b in zip(samples[name], samples[base])])
    rows = []
    for name, label, base in (("Ironic", "x hwdrivers", "hwdrivers"),
                              ("hwdrivers", "x floor", "floor"), ("floor", "", None)):
        if not samples[name]:
            continue
        row = summarize(name, samples[name], counts[name])
        row.append("%.1f%s" % (ratios[name], label) if base else "1")
        rows.append(row)
    common.print_table(
        "Exclusive power action, side by side (SQLite, fake power, %d nodes, %d ops x %d "
        "interleaved pairs; medians)" % (args.nodes, args.ops, args.pairs),
        ["system", "median us/op", "p99 us/op", "statements/op", "commits/op",
         "SQLite calls/op", "via SQLAlchemy stmts/commits", "ratio"], rows)
    print("  statements/op and commits/op: SQLite's own trace (statements exclude BEGIN/"
          "COMMIT/ROLLBACK; PRAGMAs count); SQLite calls/op: every traced statement;\n"
          "  via SQLAlchemy: before_cursor_execute / commit events (blind to work done on "
          "the DB-API connection). Ratios: medians of per-pair ratios.")
    if ironic is None:
        print("  Ironic column not measured: pass --ironic-python PATH (a virtualenv's "
              "interpreter with ironic installed, or $%s),\n  or --install-ironic DIR to "
              "make one with ironic==%s (pip, a few minutes), e.g.\n"
              "  .venv/bin/python benchmarks/ironic_side_by_side.py --install-ironic "
              "/tmp/ironic-venv" % (IRONIC_PYTHON_ENV, IRONIC_VERSION))
    if args.show_sql:
        for name in ("Ironic", "hwdrivers", "floor"):
            if name in counts:
                print("\nSQLite statements of one %s operation (%d):" % (
                    name, len(counts[name]["sample"])))
                for statement in counts[name]["sample"]:
                    print("    " + statement)
    print("Load average at the end: %.2f %.2f %.2f" % os.getloadavg())
    return rows


if __name__ == "__main__":
    try:
        main()
    except IronicError as error:
        sys.exit("ironic_side_by_side: %s" % error)
