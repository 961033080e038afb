"""SIGKILL hwdrivers-server in the middle of power operations, restart it.

The first life runs with [fake] power_delay = 30, so the operations are
certainly in progress (lease held, target published) when the process is
killed without any chance to clean up. The second life (same database,
same conductor host name) must repair everything at start-up, before it
serves: every node unlocked, no target pending, last_error saying the
operation was aborted by a restart on the interrupted nodes only, and
every node still there with all its fields.
"""

import pytest

from tests.functional.server_proc import ServerProcess
from tests.waits import wait_for

BUSY = 6
IDLE = 2
#: Fields the restart may change on an interrupted node.
VOLATILE = {"updated_at", "last_error", "target_power_state", "reservation"}
#: Links name the server's URL, which changes with the port of each life.
LINKS = {"links", "ports", "portgroups", "states", "volume"}


@pytest.fixture
def first_life(tmp_path):
    proc = ServerProcess(tmp_path, {"fake": {"power_delay": 30}}, name="life1").start()
    yield proc
    proc.kill()


def test_sigkill_mid_operation_then_restart(tmp_path, first_life):
    server = first_life
    uuids = []
    for index in range(BUSY + IDLE):
        status, doc = server.call("POST", "/v1/nodes", {
            "driver": "fake-hardware", "name": "crash-%d" % index,
            "driver_info": {"fake_username": "admin", "fake_password": "pw-%d" % index},
            "properties": {"cpus": index + 1, "memory_mb": 1024},
            "extra": {"rack": "r%d" % (index % 2)}})
        assert status == 201, doc
        uuids.append(doc["uuid"])
    before = {u: server.call("GET", "/v1/nodes/%s" % u)[1] for u in uuids}
    busy, idle = uuids[:BUSY], uuids[BUSY:]

    for uuid in busy:
        status, doc = server.call("PUT", "/v1/nodes/%s/states/power" % uuid,
                                  {"target": "power on"})
        assert status == 202, doc

    def all_in_progress():
        rows = server.db_rows("SELECT uuid, reservation, target_power_state FROM nodes")
        held = {r["uuid"] for r in rows if r["reservation"] and r["target_power_state"]}
        return held == set(busy)

    wait_for(all_in_progress, timeout=30, interval=0.1, message="operations to be in progress")
    server.kill()
    assert server.proc.returncode == -9

    # What the dead process left behind: leases and targets.
    rows = {r["uuid"]: r for r in server.db_rows("SELECT * FROM nodes")}
    assert all(rows[u]["reservation"] and rows[u]["target_power_state"] == "power on"
               for u in busy)

    second = ServerProcess(tmp_path, {"fake": {"power_delay": 0}}, name="life2").start()
    try:
        rows = {r["uuid"]: r for r in second.db_rows("SELECT * FROM nodes")}
        assert set(rows) == set(uuids), "nothing lost"
        for uuid in uuids:
            row = rows[uuid]
            assert row["reservation"] is None and row["reservation_expires"] is None
            assert row["target_power_state"] is None
        for uuid in busy:
            assert "aborted by a conductor restart" in rows[uuid]["last_error"]
            assert "functest-conductor" in rows[uuid]["last_error"]
        for uuid in idle:
            assert rows[uuid]["last_error"] is None

        for uuid in uuids:
            status, doc = second.call("GET", "/v1/nodes/%s" % uuid)
            assert status == 200
            for key, value in before[uuid].items():
                if key not in VOLATILE | LINKS:
                    assert doc[key] == value, (key, doc[key], value)
            assert doc["driver_info"]["fake_password"] == "******"
            assert doc["reservation"] is None and doc["target_power_state"] is None

        # The repaired nodes work again, and a success clears last_error.
        status, _ = second.call("PUT", "/v1/nodes/%s/states/power" % busy[0],
                                {"target": "power on"})
        assert status == 202

        def powered():
            states = second.call("GET", "/v1/nodes/%s/states" % busy[0])[1]
            return states if states["target_power_state"] is None else None

        states = wait_for(powered, timeout=30, interval=0.1, message="power on after restart")
        assert states["power_state"] == "power on" and states["last_error"] is None
        print("\ncrash: restart served in %.2fs with %d interrupted operations repaired"
              % (second.started_in, BUSY))
    finally:
        assert second.stop() == 0
