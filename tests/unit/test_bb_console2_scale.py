"""Console costs that grow with the fleet: queries per sync, the listen queue."""

import socket
import subprocess

import pytest
import sqlalchemy as sa

from hwdrivers.conductor import console_manager
from hwdrivers.conductor import console_relay


class _FakeRelay:
    def __init__(self, node):
        self.node = node
        self.state = console_relay.ON
        self.port_number = 1
        self.client_address = None
        self.stopped = False

    def stop(self):
        self.stopped = True


def test_ownership_check_reads_the_served_nodes_in_one_query(sqlite_database, monkeypatch):
    """40 served consoles: the ring check was 40 node reads every 30 s, now one."""
    from hwdrivers.db import api as db_api
    created = [db_api.create_node({"driver": "fake-hardware", "name": "n%02d" % i,
                                   "console_enabled": True}) for i in range(40)]
    manager = console_manager.ConsoleManager(
        owns=lambda node: not node.name.endswith("7"))
    relays = {n["uuid"]: _FakeRelay(n["uuid"]) for n in created}
    manager._relays.update(relays)
    node_reads = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and " nodes" in statement:
            node_reads.append(statement)

    engine = sa.engine.Engine  # every engine (the reader's may be its own)
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        found = manager._not_owned()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert sorted(u for u, _ in found) == sorted(
        n["uuid"] for n in created if n["name"].endswith("7"))
    assert len(node_reads) == 1, node_reads


def _backlog(port):
    """The accept queue length ss reports for our listener on ``port`` (Send-Q)."""
    out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port], capture_output=True,
                         text=True, check=True).stdout
    return int(out.split()[2])


def test_console_port_queues_a_burst_of_clients():
    """listen(2) dropped the SYNs of a burst's third client on: 1-3 s waits."""
    try:
        subprocess.run(["ss", "-V"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("ss (iproute2) is not installed")
    pool = console_manager.PortPool("127.0.0.1", "0:0")
    pool.ports = range(0, 1)  # any free port
    sock = pool.reserve(0)
    try:
        port = sock.getsockname()[1]
        assert _backlog(port) >= 64
        # And the queue holds them: a burst of 20 is connected without accept().
        clients = []
        try:
            for _ in range(20):
                client = socket.socket()
                client.setblocking(False)
                client.connect_ex(("127.0.0.1", port))
                clients.append(client)
            queued = 0
            for _ in range(100):
                out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port],
                                     capture_output=True, text=True).stdout
                queued = int(out.split()[1])
                if queued == 20:
                    break
            assert queued == 20
        finally:
            for client in clients:
                client.close()
    finally:
        sock.close()


def test_console_memory_benchmark_measures_both_ways():
    """The figures of doc/console.md: fresh and hosted supervisors (never a bound)."""
    import os
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, os.path.join(root, "benchmarks", "console_memory.py"),
         "--consoles", "2", "--repeat", "1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()
            if line.strip().startswith(("fresh", "hosted"))]
    assert [row[0] for row in rows] == ["fresh", "hosted"] and all(
        row[1] == "2" for row in rows), out.stdout
