"""A scaled-out deployment for functional tests: real conductor and API processes.

:class:`Cluster` owns a private PostgreSQL schema (from tests/fixtures/db.py,
so ``HWDRIVERS_TEST_DB_URL`` is honoured) and starts ``hwdrivers-conductor``
and ``hwdrivers-api`` console scripts on it, each with its own config file,
state directory and log, on free loopback ports. Intervals and timeouts are
short (``TIMING``) so membership changes take seconds. Helpers read the
database directly with SQLAlchemy (the test's CONF is reset between tests)
and compute the ring the processes must agree on.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import sqlalchemy as sa

from hwdrivers.conductor import hash_ring
from tests.fixtures import db as db_fixtures
from tests.functional import server_proc

BIN = os.path.dirname(sys.executable)

#: Short enough that a dead conductor's nodes move in seconds.
TIMING = {
    "heartbeat_interval": 1,
    "heartbeat_timeout": 5,
    "hash_ring_reset_interval": 1.0,
    "sync_power_state_interval": 3,
    "lease_duration": 8,
    "graceful_shutdown_timeout": 5,
}

_SYNC_LINE = re.compile(r"Power sync: (\d+) nodes? in ([\d.]+)s(?:: (.*))?")
_SYNC_COUNTERS = ("in_sync", "recorded", "corrected", "failed", "skipped",
                  "to_maintenance", "recovered", "not_owned", "targets_cleared")


def _sync_stats(match):
    """A ``Power sync: ...`` line's counters as a dict (absent ones are 0)."""
    stats = dict.fromkeys(_SYNC_COUNTERS, 0)
    stats.update(nodes=int(match.group(1)), duration=float(match.group(2)))
    for part in (match.group(3) or "").split(", "):
        if part:
            count, name = part.split(" ", 1)
            stats[name.replace(" ", "_")] = int(count)
    return stats


class Proc:
    """One hwdrivers-conductor or hwdrivers-api process."""

    def __init__(self, cluster, kind, name, sections):
        self.kind = kind
        self.name = name
        self.dir = cluster.tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "process.log"
        self.config_path = self.dir / "hwdrivers.conf"
        self.url = None
        with open(self.config_path, "w") as handle:
            for section, values in sections.items():
                handle.write("[%s]\n" % section)
                for key, value in values.items():
                    handle.write("%s = %s\n" % (key, value))
        self.proc = None

    def start(self, timeout=90):
        env = dict(os.environ, HWDRIVERS_STATE_PATH=str(self.dir / "state"))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "hwdrivers-%s" % self.kind), "--config-file",
             str(self.config_path)], stdout=subprocess.PIPE, stderr=log, env=env)
        ready = threading.Event()
        found = {}

        def pump():
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                match = re.search(rb"serving(?: JSON-RPC)? on (http://\S+)", raw)
                if match and not ready.is_set():
                    found["url"] = match.group(1).decode()
                    ready.set()
            log.close()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("hwdrivers-%s %s did not start:\n%s"
                                     % (self.kind, self.name, self.log()))
        self.url = found["url"]
        return self

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, signum):
        self.proc.send_signal(signum)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout=30):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    # -- what the log says --------------------------------------------------------------

    def rpc_calls(self, method):
        """Node UUIDs this conductor received ``method`` for over JSON-RPC."""
        pattern = re.compile(r"JSON-RPC %s node (\S+)" % re.escape(method))
        return pattern.findall(self.log())

    def sync_cycles(self):
        """Every power-sync cycle's stats (dicts), oldest first."""
        return [_sync_stats(m) for m in _SYNC_LINE.finditer(self.log())]

    def call(self, method, path, body=None, timeout=60):
        helper = server_proc.ServerProcess.__new__(server_proc.ServerProcess)
        helper.url = self.url
        return helper.call(method, path, body, timeout=timeout)


class Cluster:
    """Conductors and API processes on one private PostgreSQL schema."""

    def __init__(self, tmp, postgresql, timing=None):
        self.tmp = tmp
        self.timing = dict(TIMING, **(timing or {}))
        self._postgresql = postgresql
        postgresql.admin()  # skips the test when PostgreSQL is unreachable
        self.schema = postgresql.create_schema()
        self.db_url = db_fixtures.pg_url(self.schema)
        self.engine = sa.create_engine(self.db_url)
        self.conductors = {}
        self.apis = []

    def _sections(self, name, extra):
        sections = {
            "DEFAULT": {"host": name, "state_path": str(self.tmp / name / "state")},
            "database": {"connection": self.db_url, "pool_size": 4},
            # One key for every process, as doc/scale-out.md says.
            "secrets": {"key_file": str(self.tmp / "secrets.key")},
            "conductor": dict(self.timing),
            "json_rpc": {"host_ip": "127.0.0.1", "port": 0},
            "api": {"host": "127.0.0.1", "port": server_proc.free_tcp_port()},
        }
        for section, values in (extra or {}).items():
            sections.setdefault(section, {}).update(values)
        return sections

    def add_conductor(self, name, extra=None):
        proc = Proc(self, "conductor", name, self._sections(name, extra)).start()
        self.conductors[name] = proc
        return proc

    def add_api(self, name, extra=None):
        proc = Proc(self, "api", name, self._sections(name, extra)).start()
        self.apis.append(proc)
        return proc

    def close(self):
        procs = [p for p in list(self.conductors.values()) + self.apis
                 if p.proc is not None and p.proc.poll() is None]
        for proc in procs:  # all at once: each stop waits for its in-flight work
            proc.proc.send_signal(signal.SIGCONT)
            proc.proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.stop()
        self.engine.dispose()
        self._postgresql.drop_schema(self.schema)

    def logs(self):
        return "\n".join("==== %s ====\n%s" % (p.name, p.log()[-6000:])
                         for p in list(self.conductors.values()) + self.apis)

    # -- the database, read directly ----------------------------------------------------

    def rows(self, query, **params):
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(query), params)]

    def node(self, uuid):
        (row,) = self.rows("SELECT * FROM nodes WHERE uuid = :u", u=uuid)
        return row

    def live_hosts(self, group=""):
        rows = self.rows("SELECT hostname, online, updated_at, conductor_group, "
                         "timezone('UTC', now()) AS db_now FROM conductors")
        return sorted(r["hostname"] for r in rows
                      if (r["conductor_group"] or "") == group and hash_ring.is_alive(
                          r, r["db_now"], timeout=self.timing["heartbeat_timeout"]))

    def wait_live(self, hosts, timeout=60):
        deadline = time.monotonic() + timeout
        while sorted(hosts) != self.live_hosts():
            if time.monotonic() > deadline:
                raise AssertionError("live conductors %s, expected %s\n%s"
                                     % (self.live_hosts(), sorted(hosts), self.logs()))
            time.sleep(0.2)
        time.sleep(2 * self.timing["hash_ring_reset_interval"] + 0.5)  # rings refreshed


def ring_key(node):
    """The ring key of a fake-hardware node document (as conductor/hash_ring.py)."""
    controller = (node.get("driver_info") or {}).get("fake_controller")
    return "controller:fake:%s" % controller if controller else "node:%s" % node["uuid"]


def owners(nodes, hosts):
    """``{uuid: owning host}`` for fake nodes on a ring over ``hosts``."""
    ring = hash_ring.Ring(hosts)
    return {n["uuid"]: ring.owner(ring_key(n)) for n in nodes}


def wait_for(predicate, timeout, what, logs=lambda: ""):
    """Poll ``predicate()`` until it is truthy; its value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s\n%s"
                                 % (timeout, what, logs()))
        time.sleep(0.1)
