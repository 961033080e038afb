"""The lease gate: a task confirms its lease before a command only when in doubt.

``task.confirm_lease()`` runs before every attempt of :func:`retry.run`. A
lease renewed less than half its duration ago is taken as held (a clock
read, no statement); one whose renewal is overdue (the process was paused)
is renewed in the database first, and a task whose lease another took is
stopped with LeaseLost, nothing sent, and says so in ``last_error`` when
nobody else holds or wrote the node since. Tests on SQLite and PostgreSQL.

A pause is simulated by taking the task out of the keeper (its renewals
freeze) and dating its last renewal a lease back (the monotonic clock ran
on while the process was stopped); the functional test
test_bb_lease7_paused_conductor stops a real process.
"""

import datetime
import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers import retry
from hwdrivers.drivers import task as driver_task

CTX = hw_context.get_admin_context()
THIEF = "other-conductor:1"


@pytest.fixture
def node(database):
    return db_api.create_node({"driver": "fake-hardware", "name": "gate-node",
                               "target_power_state": "power on"})


@pytest.fixture
def renewals(monkeypatch):
    """Every lease renewal the gate asks the database for, as node ids."""
    calls = []
    real = db_api.renew_reservation

    def spy(node_id, owner, expires):
        calls.append(node_id)
        return real(node_id, owner, expires)

    monkeypatch.setattr(task_manager.db_api, "renew_reservation", spy)
    return calls


def paused(task):
    """As if the process was stopped for a whole lease: no renewal since."""
    task_manager.LEASES.discard(task)
    duration = task_manager.CONF.conductor.lease_duration
    task.renewed(time.monotonic() - duration, duration)


def steal(node, task, release=False):
    """Another conductor takes the lease once expired (and lets go, with ``release``).

    The lease runs out as it does during a pause (its expiry passes, the
    row is not written otherwise), so the node's ``updated_at`` stays ours.
    """
    now = task_manager.utcnow()
    assert db_api.renew_reservations([(node["id"], task.owner)],
                                     now - datetime.timedelta(hours=1)) == {node["id"]}
    assert db_api.reserve_node(node["id"], THIEF, now + datetime.timedelta(minutes=1), now)
    if release:
        assert db_api.release_node(node["id"], THIEF)


def test_a_fresh_lease_is_confirmed_without_the_database(node, renewals):
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        for _ in range(3):
            task.confirm_lease()
    assert renewals == []


def test_a_shared_task_and_a_standalone_one_have_nothing_to_confirm(node, renewals):
    with task_manager.acquire(CTX, node["id"], shared=True) as task:
        task.renewed(time.monotonic() - 3600, 60)  # whatever its clock says
        task.lease_fresh_until = float("inf")
        task.confirm_lease()
    standalone = driver_task.StandaloneTask.for_driver("fake-hardware")
    retry.confirm_lease(standalone)
    assert renewals == []


def test_an_overdue_lease_still_held_is_renewed_and_the_task_goes_on(node, renewals):
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        paused(task)
        _, before = db_api.get_reservation(node["id"])
        task.confirm_lease()
        assert renewals == [node["id"]]
        owner, after = db_api.get_reservation(node["id"])
        assert owner == task.owner and after >= before
        task.confirm_lease()  # fresh again: no second statement
        assert renewals == [node["id"]]
        assert not task.lease_lost


def test_an_overdue_lease_taken_over_stops_the_task_and_leaves_the_holder_alone(node):
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        paused(task)
        steal(node, task)
        with pytest.raises(exception.LeaseLost) as info:
            task.confirm_lease()
        assert task.lease_lost
    message = str(info.value)
    assert "Node gate-node: power on was stopped before its next command" in message
    assert "nothing more sent" in message and "[conductor] lease_duration" in message
    assert "expired and was taken over" in message
    row = db_api.get_node(node["id"])
    assert row["reservation"] == THIEF  # its holder's node: not written
    assert row["last_error"] is None and row["target_power_state"] == "power on"


def test_a_stopped_task_says_so_on_a_node_nobody_holds(node, renewals):
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        paused(task)
        steal(node, task, release=True)
        with pytest.raises(exception.LeaseLost) as first:
            task.confirm_lease()
        with pytest.raises(exception.LeaseLost) as again:
            task.confirm_lease()
        assert again.value is first.value  # no second statement, no second record
        assert renewals == [node["id"]]
    row = db_api.get_node(node["id"])
    assert row["last_error"] == str(first.value)
    assert row["target_power_state"] is None and row["reservation"] is None


def test_a_node_written_since_keeps_what_its_writer_said(node):
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        paused(task)
        steal(node, task, release=True)
        db_api.update_node(node["id"], {"last_error": "conductor c4 stopped heartbeating",
                                        "target_power_state": None})
        with pytest.raises(exception.LeaseLost):
            task.confirm_lease()
    assert db_api.get_node(node["id"])["last_error"] == "conductor c4 stopped heartbeating"


def test_a_loss_the_keeper_found_stops_the_next_command_without_asking(node, renewals):
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        steal(node, task, release=True)
        task_manager.LEASES.renew_due(force=True)  # the keeper finds it gone
        assert task.lease_lost
        with pytest.raises(exception.LeaseLost):
            task.confirm_lease()
    assert renewals == []
    assert "was stopped before its next command" in db_api.get_node(node["id"])["last_error"]


def test_an_overdue_lease_the_database_cannot_confirm_stops_the_task(node, monkeypatch):
    def down(*args):
        raise exception.DatabaseUnavailable("the database is unavailable")

    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        paused(task)
        monkeypatch.setattr(task_manager.db_api, "renew_reservation", down)
        with pytest.raises(exception.LeaseLost) as info:
            task.confirm_lease()
        monkeypatch.undo()
    assert "could not be confirmed: the database did not answer" in str(info.value)
    assert "DatabaseUnavailable" in str(info.value)


class _Attempts:
    """A driver call that fails with no answer the first ``failures`` times."""

    def __init__(self, failures=0, on_failure=None):
        self.calls = 0
        self.failures = failures
        self.on_failure = on_failure

    def __call__(self, task):
        self.calls += 1
        if self.calls <= self.failures:
            if self.on_failure is not None:
                self.on_failure()
            raise exception.DriverConnectionError("no answer")
        return "done"


def test_retry_run_sends_nothing_once_the_lease_is_lost(node):
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        call = _Attempts()
        assert retry.run(task, task.driver.power, call) == "done"  # fresh: goes
        paused(task)
        steal(node, task)
        with pytest.raises(exception.LeaseLost):
            retry.run(task, task.driver.power, call)
    assert call.calls == 1


def test_a_retry_is_not_sent_when_the_lease_lapsed_during_the_attempt(node):
    with task_manager.acquire(CTX, node["id"], purpose="power on") as task:
        call = _Attempts(failures=1, on_failure=lambda: (paused(task), steal(node, task)))
        with pytest.raises(exception.LeaseLost):
            retry.run(task, task.driver.power, call, deadline=time.monotonic() + 30)
    assert call.calls == 1  # the retry was stopped, not sent
