"""Run the real ``hwdrivers-server`` as a subprocess for functional tests.

Each :class:`ServerProcess` writes its own config file (a private SQLite
database under the test's tmp_path, free loopback ports), starts the
installed console script and waits for its "serving on" line. Its stdout
and stderr go to a log file the tests print on failure. Small JSON helpers
talk to the API with urllib, so the tests need nothing the CLI does not.
"""

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

SERVER = os.path.join(os.path.dirname(sys.executable), "hwdrivers-server")
#: The newest version: documents carry every field (older versions hide the newer ones).
API_VERSION = "1.109"


def free_tcp_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(tmp_path, **kwargs):
    """A started :class:`ServerProcess` (``kwargs`` as its own), stopped after.

    For a fixture: ``with running(tmp_path, name=...) as proc: yield proc``.
    A server that does not exit 0 on SIGTERM fails the test with its log.
    """
    proc = ServerProcess(tmp_path, **kwargs)
    proc.start()
    try:
        yield proc
    except BaseException:
        proc.stop()
        raise
    code = proc.stop()
    assert code == 0, "hwdrivers-server exited %s:\n%s" % (code, proc.log())


class ServerProcess:
    def __init__(self, tmp_path, options=None, name="server", host="functest-conductor"):
        self.dir = tmp_path / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db_path = tmp_path / "hwdrivers.sqlite"  # shared by restarts in a test
        self.port = free_tcp_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = self.dir / "server.log"
        self.config_path = self.dir / "hwdrivers.conf"
        sections = {
            "DEFAULT": {"host": host, "state_path": str(tmp_path / "state")},
            "database": {"connection": "sqlite:///%s" % self.db_path},
            "api": {"host": "127.0.0.1", "port": self.port},
            "conductor": {"sync_power_state_interval": 0},
        }
        for section, values in (options or {}).items():
            sections.setdefault(section, {}).update(values)
        self.options = sections
        with open(self.config_path, "w") as handle:
            for section, values in sections.items():
                handle.write("[%s]\n" % section)
                for key, value in values.items():
                    if isinstance(value, (list, tuple)):
                        value = ",".join(str(v) for v in value)
                    handle.write("%s = %s\n" % (key, value))
                handle.write("\n")
        self.proc = None
        self.started_in = None

    def start(self, timeout=60, *, default_signals=()):
        """Start the server and wait until it serves. ``default_signals``: signals
        the server starts with at their default action, whatever the test
        runner's are (a suite run by ``nohup`` ignores SIGHUP, and its children
        inherit that)."""
        env = dict(os.environ, HWDRIVERS_STATE_PATH=str(self.dir / "state"))
        log = open(self.log_path, "ab")
        begin = time.monotonic()

        def defaults():
            for signum in default_signals:
                signal.signal(signum, signal.SIG_DFL)

        self.proc = subprocess.Popen(
            [SERVER, "--config-file", str(self.config_path)],
            stdout=subprocess.PIPE, stderr=log, env=env,
            preexec_fn=defaults if default_signals else None)
        lines = []
        ready = threading.Event()

        def pump():
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                lines.append(raw.decode(errors="replace"))
                if b"serving on" in raw:
                    ready.set()
            log.close()

        threading.Thread(target=pump, daemon=True).start()
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() - begin > timeout:
                self.kill()
                raise AssertionError("hwdrivers-server did not start:\n%s" % self.log())
        self.started_in = time.monotonic() - begin
        return self

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc and self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("hwdrivers-server ignored SIGTERM:\n%s" % self.log())

    def kill(self):
        """SIGKILL: the process dies with no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    # -- API helpers -------------------------------------------------------------------

    def call(self, method, path, body=None, headers=None, timeout=60):
        """``(status, decoded JSON or None)``."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("X-OpenStack-Ironic-API-Version", API_VERSION)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        return status, (json.loads(raw) if raw.strip() else None)

    def db_rows(self, query, *params):
        """Rows straight from the server's SQLite file (read-only)."""
        conn = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=30)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(query, params)]
        finally:
            conn.close()
