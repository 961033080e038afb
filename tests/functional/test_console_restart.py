"""Consoles across conductor restarts and dying sessions, with a real hwdrivers-server.

A graceful stop leaves the consoles enabled and the next start serves them
again; SIGKILL leaves no ``ipmitool`` or supervisor behind (the relay's
supervisor dies with its conductor) and the next start restores what it
can and turns off, with the reason, what it cannot. A session that dies
is started again (the BMC's stale SOL session cleared first), up to
``[console] restart_limit`` times in a row.
"""

import os
import signal
import time

import pytest

from tests.fixtures import ipmi_sim as sim_fixture
from tests.functional import console_env as env
from tests.functional import server_proc
from tests.waits import wait_for


@pytest.fixture
def sims(tmp_path):
    sim_fixture.require_ipmi_sim()
    started = []
    try:
        for name in ("a", "b"):
            started.append(sim_fixture.IPMISim(str(tmp_path / ("sim-" + name))).start())
        yield started
    finally:
        for sim in started:
            sim.stop()


def _round_trip(server, node, sim, text, after_crash=False):
    doc = env.console_doc(server, node)
    client = env.Client(env.address(doc))
    try:
        sim.serial.write(text + b"\r\n")
        client.read_until(text)
        if after_crash:
            # ipmi_sim keeps the last inbound SOL sequence number of a session
            # that was killed (sol deactivate does not reset it), so the first
            # packet of the next session, numbered alike, is taken for a
            # retransmission and dropped: spend it on a lone keystroke.
            client.send(b"\r")
            time.sleep(1.0)
        client.send(b"typed " + text + b"\r")
        wait_for(lambda: b"typed " + text in sim.serial.received(), 30,
                 message="typing reaches the machine")
    finally:
        client.close()


def test_consoles_survive_stop_and_sigkill(tmp_path, sims):
    sim_a, sim_b = sims
    port_range = env.free_port_range(4)

    def life(name, **console):
        return server_proc.ServerProcess(tmp_path, options={"console": dict(
            port_range=port_range, **console)}, name=name).start()

    first = life("life1")
    try:
        node_a = env.create_ipmi_node(first, "node-a", sim_a.driver_info())
        node_b = env.create_ipmi_node(first, "node-b", sim_b.driver_info())
        for node in (node_a, node_b):
            env.enable(first, node)
            assert env.wait_state(first, node, ("on", "failed"))["console_state"] == "on"
        _round_trip(first, node_a, sim_a, b"life 1")
        sim_a.serial.write(b"printed in life 1, nobody connected\r\n")
        wait_for(lambda: "nobody connected" in first.call(
            "GET", "/v1/nodes/%s/states/console/log" % node_a)[1]["log"], 30,
            message="output in the log")
    finally:
        assert first.stop() == 0, first.log()
    # A graceful stop ends every session but keeps the consoles enabled.
    for sim in sims:
        assert not env.console_processes(sim.port)
    rows = first.db_rows("SELECT name, console_enabled, console_error FROM nodes")
    assert {r["name"]: (r["console_enabled"], r["console_error"]) for r in rows} == {
        "node-a": (1, None), "node-b": (1, None)}

    second = life("life2")
    try:
        for node in (node_a, node_b):
            assert env.wait_state(second, node, ("on", "failed"))["console_state"] == "on"
        _round_trip(second, node_a, sim_a, b"life 2")
        pids = {sim.port: [(pid, _started(pid)) for pid in env.console_processes(sim.port)]
                for sim in sims}
        assert all(pids.values()), pids
    finally:
        second.kill()
    assert second.proc.returncode == -signal.SIGKILL
    # Nothing the dead conductor started survives it.
    for sim in sims:
        wait_for(lambda sim=sim: not env.console_processes(sim.port), 30,
                 message="no orphan console process for BMC port %d" % sim.port)
    # Their supervisors and the console host follow: ipmitool is killed
    # first and they exit once they have reaped it, a moment later.
    for pid_list in pids.values():
        for pid, started in pid_list:
            # The same process (a pid reused by another test's is not it).
            wait_for(lambda pid=pid, started=started: (
                _started(pid) != started or _zombie_of_nobody(pid)), 30,
                message="console process %d outlived its conductor" % pid)
    sim_b.stop()  # B's BMC is gone when the conductor comes back

    # B's restore is retried (its BMC may come back); once here, then off.
    third = life("life3", restart_limit=1)
    try:
        doc = env.wait_state(third, node_a, ("on", "failed"))
        assert doc["console_state"] == "on" and doc["console_enabled"] is True
        _round_trip(third, node_a, sim_a, b"life 3", after_crash=True)
        doc = env.wait_state(third, node_b, ("failed",))
        assert doc["console_enabled"] is False and doc["console_info"] is None
        assert "not started again after conductor functest-conductor restarted" in (
            doc["console_error"]), doc
        assert "no answer from the BMC" in doc["console_error"]
        wait_for(lambda: not env.console_processes(sim_b.port), 30, message="B cleaned")
        status, body = third.call("GET", "/v1/nodes/%s/states/console/log" % node_a)
        assert "printed in life 1, nobody connected" in body["log"]
        assert "life 3" in body["log"]
    finally:
        assert third.stop() == 0, third.log()
    assert not env.console_processes(sim_a.port)


def _started(pid):
    """The process's start time (/proc/PID/stat field 22), or None once gone."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _zombie_of_nobody(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_dead_session_is_restarted_up_to_the_limit(tmp_path, sims):
    sim = sims[0]
    server = env.console_server(tmp_path, restart_limit=1).start()
    try:
        node = env.create_ipmi_node(server, "flaky", sim.driver_info())
        env.enable(server, node)
        assert env.wait_state(server, node, ("on", "failed"))["console_state"] == "on"

        def ipmitool_pid():
            found = env.sol_processes(sim.port)
            return found[0] if len(found) == 1 else None

        first = wait_for(ipmitool_pid, 30, message="one ipmitool")
        os.kill(first, signal.SIGKILL)  # the session dies; the BMC still holds it
        second = wait_for(lambda: (lambda p: p if p and p != first else None)(
            ipmitool_pid()), 60, message="a new ipmitool")
        doc = env.wait_state(server, node, ("on", "failed"))
        assert doc["console_state"] == "on", doc  # sol deactivate cleared the stale one
        _round_trip(server, node, sim, b"after restart", after_crash=True)

        os.kill(second, signal.SIGKILL)  # again, within a minute: past restart_limit = 1
        # The failure is recorded before the relay says failed: the first
        # document that says so is consistent, and so is the node's record.
        doc = env.wait_state(server, node, ("failed",))
        assert doc["console_enabled"] is False and doc["console_info"] is None, doc
        assert "restart_limit" in doc["console_error"], doc
        status, record = server.call("GET", "/v1/nodes/%s" % node)
        assert status == 200, record
        assert (record["console_enabled"], record["console_error"]) == (
            False, doc["console_error"]), record
        wait_for(lambda: not env.console_processes(sim.port), 30, message="all gone")
        status, body = server.call("GET", "/v1/nodes/%s/states/console/log" % node)
        assert "console session ended" in body["log"]
        assert "console failed" in body["log"]
    finally:
        server.stop()
