"""The conductor's hot path: what one power action costs the database.

Counted on SQLite's own statement trace, so what is checked is what the
database ran: a power action is two write transactions of one statement
each (take the lease, read the node and publish the target; record the
outcome and release), and a refused request one transaction that is
rolled back.
"""

import datetime
import os
import threading

import pytest
import sqlalchemy as sa

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import workers as workers_mod
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from hwdrivers.db import prepared
from hwdrivers.objects.node import Node
from tests.waits import wait_for

CTX = hw_context.get_admin_context()


@pytest.fixture
def traced(sqlite_database):
    """Every statement SQLite runs on the pool's connections, in order."""
    statements = []
    db_engine.dispose()

    def on_connect(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(statements.append)

    engine = db_engine.get_engine()
    sa.event.listen(db_engine._get().base, "connect", on_connect)
    assert engine is not None
    yield statements
    db_engine.dispose()


@pytest.fixture
def manager(sqlite_database):
    return manager_mod.ConductorManager()


def _kinds(statements):
    return [s.split()[0].upper() for s in statements if not s.startswith("PRAGMA")]


def test_a_power_action_is_two_write_transactions_of_one_statement(manager, traced):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "hot",
                                     "driver_info": {"fake_password": "pw"}})
    manager.change_power_state(CTX, "hot", "power on")  # warm: connections made
    del traced[:]
    manager.change_power_state(CTX, node.uuid, "power off")
    assert _kinds(traced) == ["BEGIN", "UPDATE", "COMMIT", "BEGIN", "UPDATE", "COMMIT"], traced
    assert traced[0] == "BEGIN IMMEDIATE" and traced[3] == "BEGIN IMMEDIATE"
    record = db_api.get_node(node.id)
    assert (record["power_state"], record["target_power_state"],
            record["reservation"], record["last_error"]) == ("power off", None, None, None)


@pytest.mark.parametrize("target, error", [
    ("sideways", exception.InvalidPowerState),          # refused before publishing
    ("power on", exception.InvalidParameterValue),      # published, then refused
])
@pytest.mark.parametrize("wait", [True, False])
def test_a_refused_request_rolls_back_leaving_no_lease(sqlite_database, traced, target,
                                                        error, wait):
    pool = workers_mod.WorkerPool(2)
    manager = manager_mod.ConductorManager(workers=pool)
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "refused"})
    db_api.update_node(db_api.get_node("refused")["id"], {
        "last_error": "earlier", "driver_info": {"fake_address": "not an address!"}})
    before = db_api.get_node("refused")
    del traced[:]
    with pytest.raises(error):
        manager.change_power_state(CTX, "refused", target, wait=wait)
    assert _kinds(traced) == ["BEGIN", "UPDATE", "ROLLBACK"], traced
    assert db_api.get_node("refused") == before
    assert pool.busy == 0  # the worker held for it was given back
    pool.shutdown(wait=True, timeout=10)


def test_a_full_pool_refuses_before_touching_the_node(sqlite_database, traced):
    pool = workers_mod.WorkerPool(1)
    manager = manager_mod.ConductorManager(workers=pool)
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "full"})
    held = pool.reserve()
    before = db_api.get_node("full")
    del traced[:]
    with pytest.raises(exception.NoFreeWorker):
        manager.change_power_state(CTX, "full", "power on", wait=False)
    assert traced == [] and db_api.get_node("full") == before
    held.cancel()
    pool.shutdown(wait=True, timeout=10)


class _WatchedPool(workers_mod.WorkerPool):
    """A real pool that notes the node's row when a task is handed to it."""

    seen = ()

    def reserve(self):
        pool, reservation = self, super().reserve()

        class Watched:
            def submit(self, func, *args, **kwargs):
                pool.seen = pool.seen + (db_api.get_node("async"),)
                return reservation.submit(func, *args, **kwargs)

            def cancel(self):
                reservation.cancel()
        return Watched()


def test_an_async_request_publishes_its_target_with_the_lease(sqlite_database):
    pool = _WatchedPool(2)
    manager = manager_mod.ConductorManager(workers=pool)
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "async"})
    db_api.update_node(db_api.get_node("async")["id"], {"last_error": "earlier"})
    try:
        node = manager.change_power_state(CTX, "async", "power on", wait=False)
        assert node.name == "async"
        (published,) = pool.seen
        assert published["target_power_state"] == "power on"
        assert published["reservation"] and published["last_error"] is None
        wait_for(lambda: db_api.get_node("async")["reservation"] is None)
        assert db_api.get_node("async")["power_state"] == "power on"
    finally:
        pool.shutdown(wait=True, timeout=10)


def test_deferred_columns_are_converted_on_first_read(manager):
    created = manager.create_node(CTX, {
        "driver": "fake-hardware", "name": "lazy", "properties": {"cpus": 4},
        "driver_info": {"fake_password": "pw"}})
    now = datetime.datetime(2030, 1, 1)
    row = db_api.reserve_and_get_node(created.id, "me:1", now, now - datetime.timedelta(1))
    assert type(row["properties"]) is prepared.Deferred
    node = Node(row)
    assert node.properties == {"cpus": 4}
    assert node.driver_info == {"fake_password": "pw"}  # decrypted on read
    assert node.reservation_expires == now
    plain = node.as_dict()
    assert not any(type(v) is prepared.Deferred for v in plain.values())
    assert plain["extra"] == {} and plain["maintenance"] is False


def test_write_node_refuses_a_lease_it_does_not_hold(manager):
    created = manager.create_node(CTX, {"driver": "fake-hardware", "name": "other"})
    with pytest.raises(exception.LeaseLost):
        db_api.write_node(created.id, {"power_state": "power on"}, "someone:else")
    with pytest.raises(exception.NodeNotFound):
        db_api.write_node(created.id + 1000, {"power_state": "power on"}, "someone:else")
    assert db_api.get_node(created.id)["power_state"] is None


@pytest.mark.parametrize("value", [
    datetime.datetime(2026, 12, 1, 17, 1, 2), datetime.datetime(2026, 12, 1, 17, 1, 2, 5),
    datetime.datetime(999, 1, 1), datetime.datetime.max])
def test_the_fast_sqlite_datetime_binder_writes_what_sqlalchemy_writes(value):
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    fast = prepared._fast_binder(sa.DateTime(), dialect)
    assert fast(value) == sa.DateTime().dialect_impl(dialect).bind_processor(dialect)(value)
    aware = value.replace(tzinfo=datetime.timezone.utc)
    assert fast(aware) == sa.DateTime().dialect_impl(dialect).bind_processor(dialect)(aware)


def test_kept_connections_never_cross_a_fork(manager):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "forked"})
    manager.change_power_state(CTX, "forked", "power on")
    kept = db_engine._get().kept
    parents = list(kept._stack)
    assert parents
    kept.pid = -1  # as a forked child sees it: another process's connections
    try:
        fairy = kept.take()
        assert fairy not in parents and list(kept._stack) == parents
        kept.give_back(fairy)  # not kept either: closed
        assert list(kept._stack) == parents
    finally:
        kept.pid = os.getpid()


@pytest.mark.parametrize("by", ["id", "uuid", "name", "UUID"])
def test_node_states_are_read_lean_by_any_ident(database, by):
    manager = manager_mod.ConductorManager()
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "lean",
                                     "driver_info": {"fake_password": "pw"}})
    manager.change_power_state(CTX, "lean", "power on")
    ident = {"id": node.id, "uuid": node.uuid, "name": "lean",
             "UUID": node.uuid.upper()}[by]
    states = manager.get_node_states(CTX, ident)
    assert set(states) == set(db_api.STATE_COLUMNS)
    full = db_api.get_node(node.id)
    assert states == {name: full[name] for name in db_api.STATE_COLUMNS}
    with pytest.raises(exception.NodeNotFound):
        manager.get_node_states(CTX, "no-such-node")


def test_a_writer_kept_waiting_past_the_busy_timeout_gets_503_and_writes_nothing(
        manager, config):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "waiting"})
    config(database__sqlite_busy_timeout=0.2)
    db_engine.dispose()  # the write lock takes the timeout when the engine is built
    before = db_api.get_node("waiting")
    lock = db_engine._get().write_lock
    results = []
    with lock:  # another writer of this process holds it
        worker = threading.Thread(target=lambda: results.append(_try_power()))
        worker.start()
        worker.join(10)
    (error,) = results
    assert isinstance(error, exception.DatabaseUnavailable)
    assert "[database] sqlite_busy_timeout = 0.2s" in str(error)
    assert db_api.get_node("waiting") == before


def _try_power():
    try:
        manager_mod.ConductorManager().change_power_state(CTX, "waiting", "power on")
    except exception.HWDriversError as exc:
        return exc
    return None


def test_a_node_states_read_on_sqlite_is_one_statement_in_no_transaction(manager, traced):
    """A lone SELECT reads one snapshot by itself: no BEGIN and COMMIT around it."""
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "polled"})
    manager.change_power_state(CTX, "polled", "power on")
    del traced[:]
    seen = []
    with db_engine.raw_transaction(write=False, single=True) as txn:
        seen.append(txn.connection.in_transaction)
    assert seen == [False] and traced == []
    del traced[:]
    assert manager.get_node_states(CTX, "polled")["power_state"] == "power on"
    assert _kinds(traced) == ["SELECT"], traced
    # What another connection commits is what the next poll reads.
    manager.change_power_state(CTX, "polled", "power off")
    assert manager.get_node_states(CTX, "polled")["power_state"] == "power off"


def test_a_failed_single_read_leaves_its_connection_reusable(manager):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "after-error"})
    with pytest.raises(ZeroDivisionError):
        with db_engine.raw_transaction(write=False, single=True) as txn:
            txn.connection.execute("SELECT 1").fetchone()
            raise ZeroDivisionError("the caller's own failure")
    kept = db_engine._get().kept
    assert all(not fairy.driver_connection.in_transaction for fairy in kept._stack)
    assert manager.get_node_states(CTX, "after-error")["name"] == "after-error"
