"""Helpers every benchmark shares: a private database, statistics, tables.

Benchmarks are plain scripts that print figures; they never assert timings.
Medians and ratios over repetitions, because the machines are shared.
"""

import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from hwdrivers import conf as hw_conf  # noqa: E402
from hwdrivers.db import engine as db_engine  # noqa: E402
from hwdrivers.db import migration  # noqa: E402
from hwdrivers.drivers import factory  # noqa: E402
from tests.fixtures import db as db_fixtures  # noqa: E402

CONF = hw_conf.CONF
#: ``$HWDRIVERS_TEST_DB_URL`` (run_all.py --db-url), default the local ``test`` database.
PG_ADMIN_URL = db_fixtures.PG_ADMIN_URL


def configure(**overrides):
    """Fresh configuration (no files), then ``group__option=value`` overrides.

    Warnings (each retry of a failing BMC) are silenced: a benchmark counts
    failures in its table; errors are still printed.
    """
    logging.basicConfig(level=logging.ERROR, format="  log: %(levelname)s %(name)s: %(message)s")
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
    try:
        url = db_fixtures.admin_url()
    except ValueError as exc:
        print("  (PostgreSQL skipped: %s)" % exc)
        yield None
        return
    schema = "hwbench_%d_%s" % (os.getpid(), uuid.uuid4().hex[:6])
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT",
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
    CONF.set_override("connection", db_fixtures.schema_url(url, schema), group="database")
    print("  (PostgreSQL: schema %s of its own, dropped after)" % schema)
    try:
        migration.upgrade()
        yield backend
    finally:
        db_engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP SCHEMA IF EXISTS "%s" CASCADE' % schema)
        admin.dispose()


def bulk_create_nodes(count, driver="fake-hardware", driver_info=None, chunk=2000,
                      **columns):
    """Insert ``count`` nodes in a few multi-row INSERTs; returns their ids.

    Enrolling 10,000 nodes one ``create_node`` at a time costs a write
    transaction each, which would dominate a benchmark's set-up; the rows
    are the same as ``db.api.create_node`` writes (uuid, driver, JSON
    fields, created_at). ``driver_info`` is a dict or ``f(index) -> dict``,
    ``driver`` a name or ``f(index) -> name`` (a mixed fleet); ``columns``
    sets other node columns (``power_state="power off"``).
    """
    import uuid as uuid_lib

    from hwdrivers.db import api as db_api
    from hwdrivers.db import models

    table = models.nodes
    now = db_api.utcnow()
    made = 0
    while made < count:
        rows = []
        for index in range(made, min(count, made + chunk)):
            info = driver_info(index) if callable(driver_info) else dict(driver_info or {})
            rows.append({"uuid": str(uuid_lib.uuid4()),
                         "driver": driver(index) if callable(driver) else driver,
                         "name": "bench-%06d" % index, "driver_info": info,
                         "driver_internal_info": {}, "instance_info": {},
                         "properties": {}, "extra": {}, "created_at": now, **columns})
        with db_engine.writer() as conn:
            conn.execute(table.insert(), rows)
        made += len(rows)
    with db_engine.reader() as conn:
        return [row[0] for row in conn.execute(
            sa.select(table.c.id).where(table.c.name.like("bench-%")).order_by(table.c.id))]


def compared_trees(before, after=ROOT):
    """``[("before", path), ("after", path)]`` for an interleaved comparison;
    ``after`` alone when ``before`` holds no hwdrivers package (not given)."""
    trees = [("after", os.path.abspath(after))]
    if before and os.path.isdir(os.path.join(before, "hwdrivers")):
        trees.insert(0, ("before", os.path.abspath(before)))
    return trees


def run_child(code, *argv, timeout=1800):
    """Run ``code`` in a fresh interpreter with ``argv``; what it printed after
    ``RESULT=`` (JSON), decoded. The child puts its tree first on sys.path."""
    proc = subprocess.run([sys.executable, "-c", code, *map(str, argv)],
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("%s failed:\n%s" % (argv[:1], proc.stderr[-3000:]))
    return json.loads(proc.stdout.rpartition("RESULT=")[2])


def rss_mb(pid="self"):
    """Resident memory (VmRSS from /proc) in MiB."""
    with open("/proc/%s/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def machine():
    """nproc, CPU model and load average: printed with every set of figures."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()
    return "%d CPU(s), %s, load average %.2f %.2f %.2f" % ((os.cpu_count() or 0, model) + load)


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


# -- a real hwdrivers-server ------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path, sections):
    """Write ``{section: {option: value}}`` as an oslo.config file."""
    with open(path, "w") as out:
        for section, options in sections.items():
            out.write("[%s]\n" % section)
            for name, value in options.items():
                if isinstance(value, (list, tuple)):
                    value = ",".join(value)
                out.write("%s = %s\n" % (name, value))
            out.write("\n")
    return path


def server_command(config_path):
    """argv of ``hwdrivers-server`` for ``config_path`` (the console script if installed)."""
    script = os.path.join(os.path.dirname(sys.executable), "hwdrivers-server")
    if os.path.exists(script):
        return [sys.executable, script, "--config-file", config_path]
    return [sys.executable, "-c", "import sys; from hwdrivers.cmd.server import main; "
            "sys.exit(main())", "--config-file", config_path]


class Server:
    """``hwdrivers-server`` in a child process; ``stop()`` (or ``with``) ends it."""

    def __init__(self, config_path, port, log_path):
        import subprocess
        self.port = port
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(server_command(config_path), cwd=ROOT,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def wait_serving(self, timeout=60.0, path="/"):
        """Seconds from process start to the first 200 on ``GET path``."""
        import http.client
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("hwdrivers-server exited with %s:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.005)
        raise RuntimeError("hwdrivers-server did not serve GET %s within %ss:\n%s"
                           % (path, timeout, self.log_tail()))

    def log_tail(self, lines=30):
        self._log.flush()
        with open(self.log_path) as log:
            return "".join(log.readlines()[-lines:])

    def cpu_seconds(self):
        """User + system CPU the server has used (from /proc/<pid>/stat)."""
        with open("/proc/%d/stat" % self.proc.pid) as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self):
        return rss_mb(self.proc.pid)

    def context_switches(self):
        """Thread switches (voluntary and not) of the server's live threads, from /proc.

        Each hand-over of a request between threads (the HTTP server's, an
        API thread, a conductor worker; the GIL between them) is one or two;
        on a shared VM they are a large part of a request's CPU. Threads
        that have exited are not counted.
        """
        total = 0
        for name in os.listdir("/proc/%d/task" % self.proc.pid):
            try:
                with open("/proc/%d/task/%s/status" % (self.proc.pid, name)) as status:
                    # voluntary_ctxt_switches: and nonvoluntary_ctxt_switches:
                    total += sum(int(line.split()[1]) for line in status
                                 if "ctxt_switches:" in line)
            except OSError:  # the thread ended while being read
                pass
        return total

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def http_json(conn, method, path, body=None):
    """One request on a kept-alive ``http.client`` connection: (status, parsed body)."""
    import json
    # The newest version, as Ironic's clients negotiate: with no header the
    # API answers as Ironic 1.1 (no names, the newer fields left out).
    headers = {"Accept": "application/json", "X-OpenStack-Ironic-API-Version": "latest"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, data.decode("utf-8", "replace")
