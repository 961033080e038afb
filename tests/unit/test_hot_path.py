"""The conductor's hot path: what one power action costs the database.

Counted on SQLite's own statement trace, so what is checked is what the
database ran: a power action is two write transactions (take the lease,
read the node and publish the target; record the outcome and release),
and a refused request one transaction that is rolled back.
"""

import datetime

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


def test_a_power_action_is_two_write_transactions_and_three_statements(manager, traced):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "hot",
                                     "driver_info": {"fake_password": "pw"}})
    manager.change_power_state(CTX, "hot", "power on")  # warm: connections made
    del traced[:]
    manager.change_power_state(CTX, node.uuid, "power off")
    assert _kinds(traced) == ["BEGIN", "UPDATE", "UPDATE", "COMMIT",
                              "BEGIN", "UPDATE", "COMMIT"], traced
    assert traced[0] == "BEGIN IMMEDIATE" and traced[4] == "BEGIN IMMEDIATE"
    record = db_api.get_node(node.id)
    assert (record["power_state"], record["target_power_state"],
            record["reservation"], record["last_error"]) == ("power off", None, None, None)


def test_a_refused_request_rolls_back_leaving_no_lease(manager, traced):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "refused"})
    db_api.update_node(db_api.get_node("refused")["id"], {"last_error": "earlier"})
    before = db_api.get_node("refused")
    del traced[:]
    with pytest.raises(exception.InvalidPowerState):
        manager.change_power_state(CTX, "refused", "sideways")
    assert _kinds(traced) == ["BEGIN", "UPDATE", "ROLLBACK"], traced
    assert db_api.get_node("refused") == before


class _WatchedPool(workers_mod.WorkerPool):
    """A real pool that notes the node's row when a task is handed to it."""

    seen = ()

    def submit(self, func, *args, **kwargs):
        self.seen = self.seen + (db_api.get_node("async"),)
        return super().submit(func, *args, **kwargs)


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
