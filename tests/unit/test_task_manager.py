"""Tasks and leases on SQLite and PostgreSQL: contention, expiry, takeover, hand-off."""

import datetime
import threading
import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import task_manager
from hwdrivers.conductor import workers
from hwdrivers.db import api as db_api

CTX = hw_context.get_admin_context()


@pytest.fixture
def node(database):
    return db_api.create_node({"driver": "fake-hardware", "name": "tm-node"})


def reservation(node):
    return db_api.get_reservation(node["id"])[0]


def test_exclusive_task_holds_and_releases_the_lease(node):
    with task_manager.acquire(CTX, node["uuid"], purpose="test") as task:
        assert reservation(node) == task.owner
        assert task.owner.startswith(task_manager.CONF.host + ":")
        assert task.driver.power.name == "fake"
        assert task.node.name == "tm-node"
    assert reservation(node) is None


def test_lease_released_on_exception(node):
    with pytest.raises(RuntimeError):
        with task_manager.acquire(CTX, node["name"]):
            raise RuntimeError("boom")
    assert reservation(node) is None


def test_shared_task_takes_no_lock(node):
    with task_manager.acquire(CTX, node["id"], shared=True):
        assert reservation(node) is None
        with task_manager.acquire(CTX, node["id"]):
            pass


def test_busy_node_raises_node_locked_after_bounded_wait(node, config):
    config(conductor__node_locked_retry_timeout=0.3)
    with task_manager.acquire(CTX, node["id"]) as holder:
        start = time.monotonic()
        with pytest.raises(exception.NodeLocked) as info:
            task_manager.acquire(CTX, node["id"])
        waited = time.monotonic() - start
    assert 0.25 <= waited < 3
    assert holder.owner in str(info.value)
    assert info.value.code == 409


def test_a_node_deleted_while_waited_for_is_not_found_at_once(node, config):
    """It was retried until the lock wait ended (a minute here), then named
    by its database id; now the next retry says so, by the caller's name."""
    config(conductor__node_locked_retry_timeout=60)
    errors = []

    def wait_for_it():
        try:
            task_manager.acquire(CTX, "tm-node")
        except exception.HWDriversError as exc:
            errors.append((time.monotonic(), exc))

    with task_manager.acquire(CTX, node["id"]) as holder:
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()
        db_api.destroy_node(node["id"], owner=holder.owner)
        deleted = time.monotonic()
        waiter.join(30)
    [(when, error)] = errors
    assert isinstance(error, exception.NodeNotFound), error
    assert "tm-node" in str(error) and when - deleted < 10


def test_unknown_node(database):
    with pytest.raises(exception.NodeNotFound):
        task_manager.acquire(CTX, "no-such-node")


def test_many_threads_on_one_node_exactly_one_holds_none_lost(node, config):
    config(conductor__node_locked_retry_timeout=60)
    threads, rounds = 8, 5
    inside = []
    peak = [0]
    done = []
    guard = threading.Lock()
    errors = []

    def worker():
        for _ in range(rounds):
            try:
                with task_manager.acquire(CTX, node["id"], purpose="contend") as task:
                    with guard:
                        inside.append(task.owner)
                        peak[0] = max(peak[0], len(inside))
                    time.sleep(0.002)
                    with guard:
                        inside.remove(task.owner)
                        done.append(task.owner)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(120)
    assert errors == []
    assert peak[0] == 1
    assert len(done) == threads * rounds and len(set(done)) == threads * rounds
    assert reservation(node) is None


def test_expired_lease_is_taken_over(node):
    past = task_manager.utcnow() - datetime.timedelta(seconds=5)
    assert db_api.reserve_node(node["id"], "dead-conductor:abc", past, past)
    with task_manager.acquire(CTX, node["id"]) as task:
        assert reservation(node) == task.owner
    assert reservation(node) is None


def test_live_lease_is_not_taken_over(node, config):
    config(conductor__node_locked_retry_timeout=0.1)
    now = task_manager.utcnow()
    assert db_api.reserve_node(node["id"], "other:abc", now + datetime.timedelta(60), now)
    with pytest.raises(exception.NodeLocked, match="other:abc"):
        task_manager.acquire(CTX, node["id"])


def test_held_lease_is_renewed_past_its_duration(node, config):
    config(conductor__lease_duration=1.0, conductor__node_locked_retry_timeout=0.05)
    with task_manager.acquire(CTX, node["id"]) as task:
        time.sleep(1.6)  # longer than the lease: only renewal keeps it
        _, expires = db_api.get_reservation(node["id"])
        assert expires > task_manager.utcnow()
        with pytest.raises(exception.NodeLocked):
            task_manager.acquire(CTX, node["id"])
        assert reservation(node) == task.owner


def test_save_after_lease_lost_raises_and_writes_nothing(node):
    with task_manager.acquire(CTX, node["id"]) as task:
        # Another conductor took the node over (our lease had expired).
        db_api.release_node(node["id"], task.owner)
        now = task_manager.utcnow()
        db_api.reserve_node(node["id"], "thief:1", now + datetime.timedelta(60), now)
        task.node.power_state = "power on"
        with pytest.raises(exception.LeaseLost):
            task.save()
    assert db_api.get_node(node["id"])["power_state"] is None
    assert reservation(node) == "thief:1"


@pytest.mark.parametrize("finish", ["save", "destroy"])
def test_a_lease_released_while_its_renewal_runs_is_not_called_lost(
        node, monkeypatch, caplog, finish):
    """The keeper read the task, then the task's last write dropped the lease
    before the renewal's UPDATE: finished, not lost, and nothing is logged."""
    real = db_api.renew_reservations

    def renew_after_the_release(leases, expires):
        if finish == "save":
            task.node.extra = {"done": True}
            task.save(release=True)
        else:
            task.destroy_node()
        return real(leases, expires)

    with caplog.at_level("ERROR"), task_manager.acquire(CTX, node["id"]) as task:
        monkeypatch.setattr(task_manager.db_api, "renew_reservations",
                            renew_after_the_release)
        task_manager.LEASES.renew_due(force=True)
        monkeypatch.setattr(task_manager.db_api, "renew_reservations", real)
        assert not task.lease_lost
    assert not [r for r in caplog.records if "was lost" in r.getMessage()]


def test_spawn_after_hands_the_lock_to_a_worker(node):
    pool = workers.WorkerPool(2)
    started, finish = threading.Event(), threading.Event()

    def job(task):
        started.set()
        finish.wait(10)
        task.node.extra = {"ran": True}
        task.save()

    with task_manager.acquire(CTX, node["id"]) as task:
        task.spawn_after(pool.submit, job, task)
    assert started.wait(5)
    assert reservation(node) == task.owner  # the worker holds it now
    finish.set()
    for _ in range(200):
        if reservation(node) is None:
            break
        time.sleep(0.01)
    assert reservation(node) is None
    assert db_api.get_node(node["id"])["extra"] == {"ran": True}
    pool.shutdown()


def test_full_pool_refuses_and_releases(node):
    pool = workers.WorkerPool(1)
    block = threading.Event()
    pool.submit(block.wait, 10)
    with pytest.raises(exception.NoFreeWorker):
        with task_manager.acquire(CTX, node["id"]) as task:
            task.spawn_after(pool.submit, lambda: None)
    assert reservation(node) is None
    block.set()
    pool.shutdown()


def test_last_save_can_release_the_lease_in_the_same_write(node):
    with task_manager.acquire(CTX, node["id"], purpose="test") as task:
        task.node.last_error = "recorded with the release"
        task.save(release=True)
        row = db_api.get_node(node["id"])
        assert row["reservation"] is None and row["reservation_expires"] is None
        assert row["last_error"] == "recorded with the release"
        # Another task may take the node at once; this one can no longer write.
        with task_manager.acquire(CTX, node["id"], purpose="next") as other:
            task.node.last_error = "too late"
            with pytest.raises(exception.LeaseLost):
                task.save()
            assert db_api.get_reservation(node["id"])[0] == other.owner
    assert db_api.get_node(node["id"])["last_error"] == "recorded with the release"
    assert db_api.get_reservation(node["id"]) == (None, None)


# -- waiting for a busy node: bounded, connection-free, not for long holders -----------

def _holder(node_id, release):
    """A real concurrent task holding the node's lease until ``release`` is set."""
    taken = threading.Event()

    def hold():
        with task_manager.acquire(CTX, node_id, purpose="power on"):
            taken.set()
            release.wait(30)
    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(30)
    return thread


def test_request_context_waits_for_a_short_holder_without_a_connection(node, config):
    """The request's lock_wait (not [conductor]'s) bounds the wait; each attempt is
    one short statement, so no pooled connection stays out while waiting."""
    from sqlalchemy import event

    from hwdrivers.db import engine as db_engine

    config(conductor__node_locked_retry_timeout=0)
    pool = db_engine.get_engine().pool
    out, held = {}, []

    def checkout(dbapi_conn, record, proxy):
        out[id(record)] = time.monotonic()

    def checkin(dbapi_conn, record):
        start = out.pop(id(record), None)
        if start is not None:
            held.append(time.monotonic() - start)

    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    release = threading.Event()
    try:
        thread = _holder(node["id"], release)
        threading.Timer(1.5, release.set).start()
        ctx = hw_context.RequestContext(lock_wait=60)
        with task_manager.acquire(ctx, node["id"], purpose="power off") as task:
            assert release.is_set()  # it got the node once the holder let go
            assert reservation(node) == task.owner
        thread.join(30)
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
    assert len(held) >= 3  # several attempts while waiting...
    assert max(held) < 1.0  # ...each a short statement, none spanning the wait


def test_node_locked_carries_retry_after_and_is_bounded(node, config):
    config(conductor__node_locked_retry_timeout=60)
    release = threading.Event()
    thread = _holder(node["id"], release)
    try:
        start = time.monotonic()
        with pytest.raises(exception.NodeLocked) as info:
            task_manager.acquire(hw_context.RequestContext(lock_wait=0.3), node["id"])
        assert time.monotonic() - start < 20  # the request's 0.3 s, not the 60 s
        assert info.value.retry_after == task_manager.SHORT_RETRY_AFTER
    finally:
        release.set()
        thread.join(30)


def test_node_being_provisioned_is_refused_at_once(node, config):
    """A worker verifying or cleaning holds the lock for long: no point waiting."""
    db_api.update_node(node["id"], {"provision_state": "cleaning"})
    release = threading.Event()
    thread = _holder(node["id"], release)
    try:
        start = time.monotonic()
        with pytest.raises(exception.NodeLocked) as info:
            task_manager.acquire(hw_context.RequestContext(lock_wait=60), node["id"])
        assert time.monotonic() - start < 20  # not the 60 s
        assert "cleaning in progress" in str(info.value)
        assert info.value.retry_after == task_manager.LONG_RETRY_AFTER
    finally:
        release.set()
        thread.join(30)


def test_wait_idle_returns_when_the_last_operation_ends():
    pool = workers.WorkerPool(2)
    release = threading.Event()
    pool.submit(release.wait, 10)
    assert pool.wait_idle(timeout=0.05) is False  # still running
    release.set()
    assert pool.wait_idle(timeout=10) is True
    assert pool.busy == 0
    assert pool.shutdown(wait=True, timeout=10)
