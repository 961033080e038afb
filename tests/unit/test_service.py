"""ConductorService: start-up recovery, heartbeat, periodics, graceful stop."""

import datetime
import threading
import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import service as service_mod
from hwdrivers.conf import default as default_conf
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from hwdrivers.drivers.modules import fake
from tests.waits import wait_for

CTX = hw_context.get_admin_context()


@pytest.fixture
def service(database, config):
    config(host="cond-1", conductor__workers_pool_size=4)
    svc = service_mod.ConductorService()
    yield svc
    svc.stop(timeout=5)


def node(name, **fields):
    values = {"driver": "fake-hardware", "name": name, "power_state": "power off"}
    values.update(fields)
    return db_api.create_node(values)


def test_contract_attributes(service, config):
    assert service.hostname == "cond-1"
    assert service.manager.workers is service.workers
    assert service.workers.size == 4


def test_start_registers_and_stop_marks_offline(service):
    service.start()
    service.start()  # idempotent
    row = db_api.get_conductor("cond-1")
    assert row["online"] is True
    assert row["hardware_types"] == sorted(default_conf.DEFAULT_HARDWARE_TYPES)
    assert service.stop() is True
    assert service.stop() is True  # idempotent
    assert db_api.get_conductor("cond-1")["online"] is False
    with pytest.raises(exception.HWDriversError, match="was stopped"):
        service.start()


def test_start_recovers_what_a_dead_life_left(service):
    future = db_api.utcnow() + datetime.timedelta(minutes=10)
    powering = node("powering", target_power_state="power on",
                    reservation="cond-1:dead", reservation_expires=future)
    deploying = node("deploying", provision_state="deploying",
                     target_provision_state="active",
                     reservation="cond-1:dead2", reservation_expires=future)
    orphan = node("orphan", target_power_state="power off")  # its lease already expired
    waiting = node("waiting", provision_state="wait call-back")  # waits for a callback
    other = node("other", target_power_state="power on",
                 reservation="cond-2:alive", reservation_expires=future)
    quiet = node("quiet")
    before_quiet = db_api.get_node(quiet["id"])

    service.start()

    for victim in (powering, orphan):
        row = db_api.get_node(victim["id"])
        assert row["reservation"] is None
        assert row["target_power_state"] is None
        assert "aborted by a conductor restart" in row["last_error"]
        assert "cond-1" in row["last_error"]
    row = db_api.get_node(deploying["id"])
    assert row["reservation"] is None
    assert row["provision_state"] == "deploy failed"
    assert row["target_provision_state"] is None
    assert "aborted by a conductor restart" in row["last_error"]
    assert db_api.get_node(waiting["id"])["provision_state"] == "wait call-back"
    row = db_api.get_node(other["id"])  # another live conductor's work is its own
    assert row["reservation"] == "cond-2:alive"
    assert row["target_power_state"] == "power on"
    assert db_api.get_node(quiet["id"]) == before_quiet


def test_bad_config_fails_fast_and_registers_nothing(database, config):
    config(host="cond-bad", enabled_hardware_types=["no-such-hardware"])
    svc = service_mod.ConductorService()
    with pytest.raises(exception.ConfigInvalid, match="enabled_hardware_types"):
        svc.start()
    with pytest.raises(exception.ConductorNotFound):
        db_api.get_conductor("cond-bad")


def test_heartbeat_moves_updated_at_and_reregisters(service):
    service.start()
    first = db_api.get_conductor("cond-1")["updated_at"]
    time.sleep(0.01)
    service.heartbeat()
    assert db_api.get_conductor("cond-1")["updated_at"] > first


def test_periodic_sync_and_heartbeat_run(database, config, monkeypatch):
    config(host="cond-p", conductor__sync_power_state_interval=1,
           conductor__heartbeat_interval=1,
           conductor__force_power_state_during_sync=False)
    unknown = node("unknown", power_state=None)
    svc = service_mod.ConductorService()
    svc.start()
    try:
        registered = db_api.get_conductor("cond-p")["updated_at"]
        wait_for(lambda: db_api.get_node(unknown["id"])["power_state"] == "power off",
                 timeout=5)
        wait_for(lambda: db_api.get_conductor("cond-p")["updated_at"] > registered,
                 timeout=5)
    finally:
        assert svc.stop(timeout=5) is True


def test_stop_refuses_new_work(service):
    service.start()
    node("n1")
    service.stop()
    with pytest.raises(exception.NoFreeWorker, match="shutting down"):
        service.manager.change_power_state(CTX, "n1", "power on", wait=False)
    row = db_api.get_node("n1")
    assert row["target_power_state"] is None
    assert row["reservation"] is None


def test_stop_lets_running_operations_finish(service, config):
    config(fake__power_delay="0.3")
    service.start()
    node("slow")
    service.manager.change_power_state(CTX, "slow", "power on", wait=False)
    assert service.stop(timeout=10) is True
    row = db_api.get_node("slow")
    assert row["power_state"] == "power on"
    assert row["target_power_state"] is None
    assert row["reservation"] is None
    assert row["last_error"] is None


def test_stop_aborts_what_outlives_the_timeout(service, monkeypatch, config):
    config(conductor__power_state_change_timeout=1)
    release = threading.Event()
    monkeypatch.setattr(fake.FakePower, "set_power_state",
                        lambda self, task, state, timeout=None: release.wait(3))
    service.start()
    node("stuck")
    service.manager.change_power_state(CTX, "stuck", "power on", wait=False)
    wait_for(lambda: db_api.get_node("stuck")["reservation"] is not None)
    start = time.monotonic()
    assert service.stop(timeout=0.5) is False
    assert time.monotonic() - start < 5
    row = db_api.get_node("stuck")
    assert row["reservation"] is None
    assert row["target_power_state"] is None
    assert "aborted by a conductor shutdown" in row["last_error"]
    assert db_api.get_conductor("cond-1")["online"] is False
    release.set()
    # The worker, finishing late, finds its lease gone and cannot write.
    time.sleep(1.5)
    assert db_api.get_node("stuck")["power_state"] == row["power_state"]


def test_pool_runs_refuses_and_drains(database, config):
    config(conductor__workers_pool_size=2)
    pool = service_mod.ConductorService().workers
    release = threading.Event()
    assert pool.submit(lambda x: x * 2, 21).result(5) == 42
    failing = pool.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(5)
    wait_for(lambda: pool.busy == 0)
    first = pool.submit(release.wait, 5)
    pool.submit(release.wait, 5)
    with pytest.raises(exception.NoFreeWorker):
        pool.submit(release.wait, 5)
    assert pool.busy == 2
    assert pool.shutdown(timeout=0.1) is False  # still running
    with pytest.raises(exception.NoFreeWorker, match="shutting down"):
        pool.submit(print)
    release.set()
    assert pool.shutdown(timeout=5) is True
    assert first.result(1) is True


def test_a_silent_conductor_is_reaped(service, config):
    config(conductor__heartbeat_timeout=30)
    future = db_api.utcnow() + datetime.timedelta(minutes=10)
    db_api.register_conductor("cond-dead", ["fake-hardware"])
    db_api.register_conductor("cond-alive", ["fake-hardware"])
    long_ago = db_api.utcnow() - datetime.timedelta(minutes=5)
    with db_engine.writer() as conn:
        conn.execute(db_api.conductors.update()
                     .where(db_api.conductors.c.hostname == "cond-dead")
                     .values(updated_at=long_ago))
    dead_node = node("dead-node", target_power_state="power on",
                     reservation="cond-dead:1", reservation_expires=future)
    alive_node = node("alive-node", target_power_state="power on",
                      reservation="cond-alive:1", reservation_expires=future)
    service.start()
    service.heartbeat()
    assert service.reap_dead() == []  # reaped once only
    assert db_api.get_conductor("cond-dead")["online"] is False
    row = db_api.get_node(dead_node["id"])
    assert row["reservation"] is None and row["target_power_state"] is None
    assert "conductor cond-dead stopped heartbeating" in row["last_error"]
    assert db_api.get_conductor("cond-alive")["online"] is True
    assert db_api.get_node(alive_node["id"])["reservation"] == "cond-alive:1"
