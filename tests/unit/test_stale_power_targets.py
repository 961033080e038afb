"""Power targets left behind by a task that lost its lease, and the power sync clearing them.

A target is published and cleared under the node's lease. When the task
stops holding it (its conductor paused past the expiry, lost the
database, died with no restart to run the start-up recovery) the target
stays and clients poll forever. The power sync clears such targets with a
compare-and-set UPDATE: never one a live lease covers, never one a task
published between the sync's read and its clear. Real SQLite and
PostgreSQL (the ``database`` fixture), no mocks.
"""

import datetime
import threading
import time

from hwdrivers.common import context as hw_context
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import power_sync
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from tests.unit.test_power_sync import bmc  # noqa: F401 (fixture)
from tests.unit.test_power_sync import make_nodes, row

LOST = db_api.LOST_LEASE_TARGET_ERROR


def _later(minutes=5):
    return db_api.utcnow() + datetime.timedelta(minutes=minutes)


def _earlier(minutes=5):
    return db_api.utcnow() - datetime.timedelta(minutes=minutes)


def _publish(node, owner, target="power off"):
    """What a task does: take the lease, then publish its target under it."""
    assert db_api.reserve_node(node["id"], owner, _later(), db_api.utcnow())
    db_api.update_node(node["id"], {"target_power_state": target, "last_error": None},
                       expected_reservation=owner)


def _stale_fleet():
    """free: no lease; expired: a lapsed lease; undated: a lease without expiry;
    live: a lease still running; idle: no target at all."""
    free, expired, undated, live, idle = make_nodes(5, power_state="power on")
    for node in (free, expired, undated, live):
        db_api.update_node(node["id"], {"target_power_state": "power off",
                                        "last_error": "earlier"})
    db_api.update_node(expired["id"], {"reservation": "gone:1",
                                       "reservation_expires": _earlier()})
    db_api.update_node(undated["id"], {"reservation": "gone:2"})
    db_api.update_node(live["id"], {"reservation": "busy:1",
                                    "reservation_expires": _later()})
    return free, expired, undated, live, idle


# -- the database function ---------------------------------------------------------------

def test_only_targets_without_a_live_lease_are_cleared(database):
    free, expired, undated, live, idle = _stale_fleet()
    cleared = db_api.clear_unleased_target_power_states()
    assert cleared == sorted(n["id"] for n in (free, expired, undated))
    for node in (free, expired, undated):
        record = row(node)
        assert record["target_power_state"] is None
        assert record["last_error"] == LOST
        assert record["power_state"] == "power on"  # what is known stays
    assert row(expired)["reservation"] == "gone:1"  # the lease is not the sync's to drop
    kept = row(live)
    assert (kept["target_power_state"], kept["last_error"]) == ("power off", "earlier")
    assert row(idle)["last_error"] is None
    assert db_api.clear_unleased_target_power_states() == []


def test_accept_chooses_the_nodes_and_says_what_it_was_offered(database):
    free, expired, undated, live, idle = _stale_fleet()
    offered = []

    def accept(candidate):
        offered.append(candidate["id"])
        return candidate["id"] == expired["id"]

    assert db_api.clear_unleased_target_power_states(accept, last_error="why") == [
        expired["id"]]
    assert offered == sorted(n["id"] for n in (free, expired, undated))
    assert row(expired)["last_error"] == "why"
    assert row(free)["target_power_state"] == "power off"


def test_target_published_between_read_and_clear_survives(database):
    """The race, made deterministic: a task takes the lease and publishes a
    fresh target after the candidates were read, before the UPDATE."""
    racing, stale = make_nodes(2, power_state="power off")
    for node in (racing, stale):
        db_api.update_node(node["id"], {"target_power_state": "power on"})

    def accept(candidate):
        if candidate["id"] == racing["id"]:
            _publish(racing, "task:fresh", target="power off")
        return True

    assert db_api.clear_unleased_target_power_states(accept) == [stale["id"]]
    survivor = row(racing)
    assert survivor["target_power_state"] == "power off"
    assert survivor["last_error"] is None
    assert survivor["reservation"] == "task:fresh"
    assert row(stale)["last_error"] == LOST


def test_a_lapsed_lease_renewed_before_the_clear_keeps_its_target(database):
    """A conductor that wakes up renews its task's lease: the renewal wins."""
    node, = make_nodes(1)
    db_api.update_node(node["id"], {"target_power_state": "power off",
                                    "reservation": "woke:1",
                                    "reservation_expires": _earlier()})

    def accept(candidate):
        assert db_api.renew_reservations([(node["id"], "woke:1")], _later()) == {node["id"]}
        return True

    assert db_api.clear_unleased_target_power_states(accept) == []
    assert row(node)["target_power_state"] == "power off"


def test_clear_waits_for_a_task_publishing_in_an_open_transaction(database):
    """The task's transaction is still open when the UPDATE runs: the UPDATE
    waits for it (row lock on PostgreSQL, the write lock on SQLite) and then
    sees the live lease, so the fresh target survives."""
    node, = make_nodes(1)
    db_api.update_node(node["id"], {"target_power_state": "power on"})
    in_transaction = threading.Event()
    errors = []

    def task():
        try:
            with db_engine.writer() as conn:
                conn.execute(db_api.nodes.update().where(db_api.nodes.c.id == node["id"])
                             .values(reservation="task:open", reservation_expires=_later(),
                                     target_power_state="power off"))
                in_transaction.set()
                time.sleep(0.5)  # the clear's UPDATE starts meanwhile
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
            in_transaction.set()

    racer = threading.Thread(target=task)

    def accept(candidate):
        racer.start()
        assert in_transaction.wait(10)
        return True

    cleared = db_api.clear_unleased_target_power_states(accept)
    racer.join(10)
    assert not errors, errors
    assert cleared == []
    record = row(node)
    assert (record["target_power_state"], record["reservation"]) == ("power off",
                                                                     "task:open")


# -- the power sync ------------------------------------------------------------------------

def test_sync_cycle_clears_stale_targets_then_reads_them_next_cycle(database, bmc):  # noqa: F811
    free, expired, undated, live, idle = _stale_fleet()
    for node in (free, expired, undated, live, idle):
        bmc.state[node["uuid"]] = PowerState.ON
    sync = power_sync.PowerSync()
    stats = sync.run_cycle()
    assert stats.targets_cleared == 3
    assert bmc.reads == [idle["uuid"]]  # cleared at the end: read from the next cycle
    for node in (free, expired, undated):
        assert row(node)["target_power_state"] is None
        assert row(node)["last_error"] == LOST
    assert row(live)["target_power_state"] == "power off"  # its task is still working

    bmc.reads.clear()
    stats = sync.run_cycle()
    assert stats.targets_cleared == 0
    assert sorted(bmc.reads) == sorted(n["uuid"] for n in (free, expired, undated, idle))
    assert row(live)["target_power_state"] == "power off"


def test_sync_race_fresh_lease_between_read_and_clear_survives(database, bmc):  # noqa: F811
    """Through the sync: ``owns`` runs between the read and the UPDATE."""
    racing, stale = make_nodes(2)
    for node in (racing, stale):
        db_api.update_node(node["id"], {"target_power_state": "power off"})

    def owns(node):
        if node.id == racing["id"] and row(racing)["reservation"] is None:
            _publish(racing, "task:fresh", target="power on")
        return True

    stats = power_sync.PowerSync(owns=owns).run_cycle()
    assert stats.targets_cleared == 1
    assert row(racing)["target_power_state"] == "power on"
    assert row(racing)["last_error"] is None
    assert row(stale)["last_error"] == LOST


def test_sync_clears_only_the_nodes_it_owns(database, bmc):  # noqa: F811
    mine, theirs = make_nodes(2)
    for node in (mine, theirs):
        db_api.update_node(node["id"], {"target_power_state": "power off"})
    stats = power_sync.PowerSync(owns=lambda node: node.id == mine["id"]).run_cycle()
    assert stats.targets_cleared == 1
    assert row(mine)["target_power_state"] is None
    assert row(theirs)["target_power_state"] == "power off"  # its owner decides


def test_sync_leaves_a_lapsed_lease_this_process_still_renews(database, bmc, config):  # noqa: F811
    """A live task of this conductor whose renewal lagged past the expiry
    (a loaded box) is not a lost one: its keeper renews it at its next tick."""
    config(conductor__lease_duration=600)
    node, other = make_nodes(2)
    db_api.update_node(other["id"], {"target_power_state": "power off"})
    context = hw_context.get_admin_context()
    with task_manager.acquire(context, node["id"], purpose="power off") as task:
        task.node.target_power_state = "power off"
        task.save()
        db_api.update_node(node["id"], {"reservation_expires": _earlier()})  # lagged
        assert power_sync.PowerSync().clear_stale_targets() == [other["id"]]
        assert row(node)["target_power_state"] == "power off"
    # The task ended without recording (as a dead worker would): now it is stale.
    assert power_sync.PowerSync().clear_stale_targets() == [node["id"]]
    assert row(node)["last_error"] == LOST
