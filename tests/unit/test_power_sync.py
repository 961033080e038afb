"""The periodic power-state sync: record or correct, skip busy nodes, maintenance, recovery.

The fake power interface keeps its state in the node row, so it can never
disagree with the database; these tests give it a separate "hardware"
(``bmc.state``, per node UUID) and a switch to make a BMC stop answering.
"""

import datetime
import re
import threading
import time

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import controllers
from hwdrivers.conductor import metrics
from hwdrivers.conductor import power_sync
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from hwdrivers.drivers.modules import fake


class FakeBMC:
    """Per-node hardware power state, separate from the database."""

    def __init__(self):
        self.state = {}
        self.broken = set()
        self.reads = []
        self.sets = []
        self.lock = threading.Lock()

    def get(self, iface, task):
        iface.sleep()
        uuid = task.node.uuid
        with self.lock:
            self.reads.append(uuid)
        if uuid in self.broken:
            raise exception.DriverConnectionError("BMC did not answer")
        return self.state.get(uuid, PowerState.OFF)

    def set(self, iface, task, power_state, timeout=None):
        iface.sleep()
        with self.lock:
            self.sets.append((task.node.uuid, PowerState.parse(power_state)))
        self.state[task.node.uuid] = PowerState.parse(power_state).resting


@pytest.fixture
def bmc(monkeypatch):
    bmc = FakeBMC()
    monkeypatch.setattr(fake.FakePower, "get_power_state",
                        lambda self, task: bmc.get(self, task))
    monkeypatch.setattr(fake.FakePower, "set_power_state",
                        lambda self, task, state, timeout=None: bmc.set(self, task, state))
    return bmc


def make_nodes(count, power_state="power on", **fields):
    rows = []
    for _ in range(count):
        values = {"driver": "fake-hardware", "power_state": power_state}
        values.update(fields)
        rows.append(db_api.create_node(values))
    return rows


def row(node):
    return db_api.get_node(node["id"])


def test_nodes_in_sync_are_only_read(database, bmc):
    nodes = make_nodes(5)
    for node in nodes:
        bmc.state[node["uuid"]] = PowerState.ON
    before = [row(n) for n in nodes]
    stats = power_sync.PowerSync(concurrency=3).run_cycle()
    assert (stats.nodes, stats.in_sync, stats.failed) == (5, 5, 0)
    assert sorted(bmc.reads) == sorted(n["uuid"] for n in nodes)
    assert bmc.sets == []
    assert [row(n) for n in nodes] == before  # nothing written
    assert stats.duration > 0
    assert stats.as_dict()["in_sync"] == 5


def test_one_readable_log_line_per_cycle_and_none_for_an_empty_fleet(database, bmc, caplog):
    with caplog.at_level("INFO", logger="hwdrivers.conductor.power_sync"):
        power_sync.PowerSync().run_cycle()
        assert not [r for r in caplog.records if "Power sync" in r.getMessage()]
        for node in make_nodes(3):
            bmc.state[node["uuid"]] = PowerState.ON
        power_sync.PowerSync().run_cycle()
    [line] = [r.getMessage() for r in caplog.records if "Power sync" in r.getMessage()]
    assert re.fullmatch(r"Power sync: 3 nodes in \d+\.\ds: 3 in sync", line), line


def test_mismatch_is_recorded_when_not_forcing(database, bmc, config):
    config(conductor__force_power_state_during_sync=False)
    node, = make_nodes(1, power_state="power off")
    bmc.state[node["uuid"]] = PowerState.ON
    stats = power_sync.PowerSync().run_cycle()
    assert stats.recorded == 1
    assert row(node)["power_state"] == "power on"
    assert row(node)["reservation"] is None
    assert bmc.sets == []


def test_mismatch_is_corrected_when_forcing(database, bmc, config):
    config(conductor__force_power_state_during_sync=True)
    node, = make_nodes(1, power_state="power off")
    bmc.state[node["uuid"]] = PowerState.ON
    stats = power_sync.PowerSync().run_cycle()
    assert stats.corrected == 1
    assert bmc.sets == [(node["uuid"], PowerState.OFF)]
    assert bmc.state[node["uuid"]] == PowerState.OFF
    record = row(node)
    assert record["power_state"] == "power off"
    assert record["reservation"] is None


def test_unknown_recorded_state_is_recorded_even_when_forcing(database, bmc):
    node, = make_nodes(1, power_state=None)
    bmc.state[node["uuid"]] = PowerState.ON
    stats = power_sync.PowerSync().run_cycle()
    assert stats.recorded == 1
    assert row(node)["power_state"] == "power on"
    assert bmc.sets == []


def test_busy_and_maintenance_nodes_are_skipped(database, bmc):
    future = db_api.utcnow() + datetime.timedelta(minutes=5)
    past = db_api.utcnow() - datetime.timedelta(minutes=5)
    locked, expired, maint, pending, provisioning, free = make_nodes(6)
    db_api.update_node(locked["id"], {"reservation": "other:1", "reservation_expires": future})
    db_api.update_node(expired["id"], {"reservation": "dead:1", "reservation_expires": past})
    db_api.update_node(maint["id"], {"maintenance": True})
    db_api.update_node(pending["id"], {"target_power_state": "power off"})
    db_api.update_node(provisioning["id"], {"target_provision_state": "active"})
    for node in (locked, expired, maint, pending, provisioning, free):
        bmc.state[node["uuid"]] = PowerState.ON
    stats = power_sync.PowerSync().run_cycle()
    assert sorted(bmc.reads) == sorted([expired["uuid"], free["uuid"]])
    assert stats.nodes == 2


def test_node_locked_between_read_and_write_is_skipped(database, bmc, config):
    config(conductor__force_power_state_during_sync=False)
    node, = make_nodes(1, power_state="power off")
    bmc.state[node["uuid"]] = PowerState.ON
    real_get = bmc.get

    def get_then_lock(iface, task):
        state = real_get(iface, task)
        db_api.update_node(node["id"], {"reservation": "api:1", "reservation_expires":
                                        db_api.utcnow() + datetime.timedelta(minutes=1)})
        return state

    bmc.get = get_then_lock
    stats = power_sync.PowerSync().run_cycle()
    assert stats.skipped == 1
    assert row(node)["power_state"] == "power off"  # the lock holder decides
    assert row(node)["reservation"] == "api:1"


def test_failed_nodes_are_read_first(database, bmc):
    nodes = make_nodes(6)
    for node in nodes:
        bmc.state[node["uuid"]] = PowerState.ON
    db_api.update_node(nodes[4]["id"], {"power_sync_failures": 1})
    db_api.update_node(nodes[2]["id"], {"power_sync_failures": 2})
    stats = power_sync.PowerSync(concurrency=1).run_cycle()
    assert bmc.reads[:2] == [nodes[2]["uuid"], nodes[4]["uuid"]]
    assert len(bmc.reads) == 6  # a node that recovers is not read twice
    assert stats.in_sync == 6
    assert row(nodes[2])["power_sync_failures"] == 0  # success resets the count


def test_every_node_read_once_across_pages(database, bmc):
    nodes = make_nodes(23)
    for node in nodes:
        bmc.state[node["uuid"]] = PowerState.ON
    stats = power_sync.PowerSync(concurrency=4, page_size=5).run_cycle()
    assert sorted(bmc.reads) == sorted(n["uuid"] for n in nodes)
    assert stats.nodes == 23


def test_failures_lead_to_maintenance_then_recovery(database, bmc, config):
    config(conductor__power_state_sync_max_retries=2)
    node, other = make_nodes(2)
    bmc.state[node["uuid"]] = bmc.state[other["uuid"]] = PowerState.ON
    bmc.broken.add(node["uuid"])
    sync = power_sync.PowerSync()

    stats = sync.run_cycle()
    assert (stats.failed, stats.to_maintenance) == (1, 0)
    record = row(node)
    assert record["power_sync_failures"] == 1 and not record["maintenance"]

    stats = sync.run_cycle()
    assert (stats.failed, stats.to_maintenance) == (1, 1)
    record = row(node)
    assert record["maintenance"] is True
    assert record["fault"] == "power failure"
    assert "power_state_sync_max_retries = 2" in record["maintenance_reason"]
    assert "BMC did not answer" in record["maintenance_reason"]
    assert record["power_state"] == "power on"  # not invented

    bmc.reads.clear()
    sync.run_cycle()
    assert node["uuid"] not in bmc.reads  # maintenance: the sync leaves it alone

    assert sync.recover_failed_nodes().recovered == 0  # still broken
    assert row(node)["maintenance"] is True

    bmc.broken.clear()
    bmc.state[node["uuid"]] = PowerState.OFF
    stats = sync.recover_failed_nodes()
    assert stats.recovered == 1
    record = row(node)
    assert record["maintenance"] is False
    assert record["fault"] is None and record["maintenance_reason"] is None
    assert record["power_sync_failures"] == 0
    assert record["power_state"] == "power off"


def test_recovery_leaves_operator_maintenance_alone(database, bmc):
    node, = make_nodes(1)
    db_api.update_node(node["id"], {"maintenance": True, "maintenance_reason": "disk swap"})
    assert power_sync.PowerSync().recover_failed_nodes().nodes == 0
    assert row(node)["maintenance"] is True
    assert row(node)["maintenance_reason"] == "disk swap"


def test_sync_goes_through_controller_queues(sqlite_database, config):
    config(fake__power_delay="0.02", fake__max_concurrency=1)
    key = "sync-pdu-%d" % time.monotonic_ns()
    for _ in range(6):
        db_api.create_node({"driver": "fake-hardware", "power_state": "power off",
                            "driver_info": {"fake_controller": key}})
    start = time.monotonic()
    stats = power_sync.PowerSync(concurrency=6).run_cycle()
    assert stats.in_sync == 6
    assert controllers.LIMITER.peak("fake:%s" % key) == 1
    assert time.monotonic() - start >= 6 * 0.02


def test_cycle_time_scales_with_concurrency(sqlite_database, config):
    config(fake__power_delay="0.05")
    with db_engine.writer() as conn:
        conn.execute(db_api.nodes.insert(), [
            {"uuid": "00000000-0000-4000-8000-%012d" % i, "driver": "fake-hardware",
             "power_state": "power on", "driver_info": {}} for i in range(200)])
    stats = power_sync.PowerSync(concurrency=20).run_cycle()
    ideal = 200 * 0.05 / 20
    assert stats.in_sync == 200
    assert ideal * 0.9 <= stats.duration < ideal * 3 + 1.0, stats


def test_stop_event_ends_a_cycle_early(sqlite_database, config):
    config(fake__power_delay="0.05")
    make_nodes(40)
    sync = power_sync.PowerSync(concurrency=2)
    threading.Timer(0.15, sync.stop_event.set).start()
    stats = sync.run_cycle()
    assert stats.nodes < 40


def test_cycle_is_recorded_in_metrics(sqlite_database, bmc):
    make_nodes(2)
    before = metrics.sample("hwdrivers_power_sync_cycle_duration_seconds_count") or 0
    power_sync.PowerSync().run_cycle()
    assert metrics.sample("hwdrivers_power_sync_cycle_duration_seconds_count") == before + 1
