"""Leases are judged by the database's clock, not by each process's own.

Conductors on several machines share the nodes' leases; judged by its own
clock, a conductor whose clock ran an hour ahead saw every live lease
expired and took it, and one running behind set expiries the others saw as
already past. The lease statements read PostgreSQL's clock themselves, so
a process's clock (``db_api.utcnow`` and ``task_manager.utcnow``, moved
here) changes nothing. SQLite has one process: its clock is the lease
clock, so these tests are PostgreSQL's (test_db_api checks both backends
against the lease clock).
"""

import datetime

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api

CTX = hw_context.get_admin_context()
OTHER = "other-conductor:1"

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
HOUR = datetime.timedelta(hours=1)
MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def node(database, config):
    config(conductor__node_locked_retry_timeout=0, conductor__lease_duration=60)
    return db_api.create_node({"driver": "fake-hardware", "name": "clock-node"})


@pytest.fixture
def skew(monkeypatch):
    """``skew(delta)``: this process's clock runs ``delta`` off the database's."""
    real = db_api.utcnow

    def move(delta):
        def skewed():
            return real() + delta
        monkeypatch.setattr(db_api, "utcnow", skewed)
        monkeypatch.setattr(task_manager, "utcnow", skewed)
    return move


def held_by_another(node, until=MINUTE):
    """Another conductor (a right clock) holds ``node`` until ``until`` from now."""
    now = db_api.utcnow()
    assert db_api.reserve_node(node["id"], OTHER, now + until, now)


def test_a_clock_an_hour_ahead_takes_no_live_lease(node, skew):
    held_by_another(node)
    skew(HOUR)
    with pytest.raises(exception.NodeLocked, match=OTHER):
        task_manager.acquire(CTX, node["id"], purpose="power on")
    assert db_api.get_reservation(node["id"])[0] == OTHER


def test_a_clock_an_hour_ahead_sees_live_leases_as_locked(node, skew):
    """The "is it locked" filters judge by the clock the leases are taken by."""
    held_by_another(node)
    db_api.update_node(node["id"], {"target_power_state": "power on"})
    skew(HOUR)
    # The power sync's stale-target sweep leaves a live task's target alone...
    assert db_api.clear_unleased_target_power_states() == []
    assert db_api.get_node(node["id"])["target_power_state"] == "power on"
    # ...a stopped task records nothing over the live holder's work...
    seen = db_api.get_node(node["id"])["updated_at"]
    assert not db_api.record_lost_lease(node["id"], seen, "stopped")
    # ...and the sync reads no locked node.
    db_api.update_node(node["id"], {"target_power_state": None})
    assert db_api.list_nodes_to_sync(failed=False) == []


def test_a_lease_taken_by_a_clock_an_hour_behind_is_live_for_the_others(node, skew):
    skew(-HOUR)
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        skew(datetime.timedelta(0))  # another conductor, its clock right
        with pytest.raises(exception.NodeLocked):
            task_manager.acquire(CTX, node["id"], purpose="power off")
        assert db_api.list_nodes_to_sync(failed=False) == []
        skew(-HOUR)  # the holder renews: still a lease from the database's clock
        task_manager.LEASES.renew_due(force=True)
        skew(datetime.timedelta(0))
        _, expires = db_api.get_reservation(node["id"])
        assert expires > db_api.lease_clock_now() + MINUTE / 2
        with pytest.raises(exception.NodeLocked):
            task_manager.acquire(CTX, node["id"], purpose="power off")
        assert db_api.get_reservation(node["id"])[0] == task.owner


def test_an_expired_lease_is_taken_whatever_the_taker_s_clock(node, skew):
    for offset in (-HOUR, HOUR):
        held_by_another(node, until=-MINUTE)  # ran out a minute ago
        skew(offset)
        with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
            assert db_api.get_reservation(node["id"])[0] == task.owner
        assert db_api.get_reservation(node["id"]) == (None, None)
        skew(datetime.timedelta(0))
