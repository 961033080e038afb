"""Heartbeats judged on one clock, and a dead conductor reaped exactly once.

Three real ConductorService objects (c1, c2, c3, one group) on PostgreSQL,
their periodics an hour apart and called directly, so nothing is timed.

- A conductor whose machine's clock runs behind stamped its heartbeats with
  that clock; the others, judging them with theirs, found it silent and
  reaped it at every heartbeat: its locks released, its operations
  aborted. An API process whose clock runs ahead saw no conductor alive.
- A process starting under a running conductor's host name on such a machine
  took the running one for dead (the duplicate-host guard judged its heartbeat).
- A survivor reaped from a list it had read before: a conductor that
  heartbeated (or restarted) in between was marked offline anyway, and the
  locks it had just taken were released; two survivors both reaped it.
"""

import datetime

import pytest

from hwdrivers.conductor import hash_ring
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from hwdrivers.db import models
from hwdrivers.drivers import factory
from tests.functional import conductor_services

TIMEOUT = 30


@pytest.fixture
def services(database, config):
    with conductor_services.started(config, ("c1", "c2", "c3"),
                                    conductor__heartbeat_timeout=TIMEOUT) as made:
        yield made


def _lease(host):
    """A node leased by a task of ``host``; its id."""
    node = db_api.create_node({"driver": "fake-hardware",
                               "name": "held-by-%s-%d" % (host, len(db_api.list_nodes()))})
    now = db_api.utcnow()
    assert db_api.reserve_node(node["id"], "%s:task" % host,
                               now + datetime.timedelta(hours=1), now)
    return node["id"]


def _age(host, seconds):
    """Make ``host``'s last heartbeat ``seconds`` older (the database's clock)."""
    with db_engine.writer() as conn:
        conn.execute(models.conductors.update()
                     .where(models.conductors.c.hostname == host)
                     .values(updated_at=models.conductors.c.updated_at
                             - datetime.timedelta(seconds=seconds)))


def _online(host):
    return db_api.get_conductor(host)["online"]


def _skewed(monkeypatch, seconds):
    """This process's clock ``seconds`` off (ahead when positive)."""
    real = db_api.utcnow
    monkeypatch.setattr(db_api, "utcnow",
                        lambda: real() + datetime.timedelta(seconds=seconds))


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_conductor_whose_clock_runs_behind_is_not_reaped(services, monkeypatch):
    held = _lease("c2")
    with monkeypatch.context() as patch:
        _skewed(patch, -3 * TIMEOUT)
        db_api.touch_conductor("c2")  # c2's heartbeat, on a machine 90 s behind
    assert services["c1"].reap_dead() == []
    assert _online("c2")
    assert db_api.get_reservation(held)[0] == "c2:task"
    services["c1"].rings.refresh()
    assert services["c1"].rings.ring("").hosts == ("c1", "c2", "c3")


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_api_process_whose_clock_runs_ahead_sees_the_conductors(services, monkeypatch):
    _skewed(monkeypatch, 3 * TIMEOUT)
    rings = hash_ring.RingManager()
    rings.refresh()
    assert rings.ring("").hosts == ("c1", "c2", "c3")
    alive = {row["hostname"]: row["alive"]
             for row in hash_ring.conductor_summaries(factory.get_registry(), rings)}
    assert alive == {"c1": True, "c2": True, "c3": True}


def _after_listing(monkeypatch, then):
    """Run ``then()`` right after the next ``list_conductors()`` has read its rows."""
    real = db_api.list_conductors
    done = []

    def listing():
        rows = real()
        if not done:
            done.append(True)
            then()
        return rows
    monkeypatch.setattr(db_api, "list_conductors", listing)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_conductor_that_heartbeats_after_being_read_stays(services, monkeypatch):
    held = _lease("c2")
    _age("c2", 3 * TIMEOUT)  # c2 was paused...
    # ...and heartbeats again just after c1 read it as silent.
    _after_listing(monkeypatch, lambda: db_api.touch_conductor("c2"))
    assert services["c1"].reap_dead() == []
    assert _online("c2")
    assert db_api.get_reservation(held)[0] == "c2:task"


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_dead_conductor_is_reaped_once(services, monkeypatch, caplog):
    first = _lease("c2")
    _age("c2", 3 * TIMEOUT)

    def c1_reaps_then_c2_restarts():
        assert services["c1"].reap_dead() == ["c2"]
        services["c2"]._register(factory.get_registry())  # c2 restarted, took a new lease
        again.append(_lease("c2"))

    again = []
    # c3 read c2's stale row before c1 reaped it and c2 came back.
    _after_listing(monkeypatch, c1_reaps_then_c2_restarts)
    assert services["c3"].reap_dead() == []
    assert db_api.get_reservation(first)[0] is None  # released by c1, once
    assert db_api.get_reservation(again[0])[0] == "c2:task"
    assert _online("c2")
    assert sum("Conductor c2: no heartbeat" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_start_on_a_machine_whose_clock_runs_ahead_sees_the_running_one(services,
                                                                         monkeypatch):
    # What claim_host and check_unique_host ask before refusing a second
    # process under a running conductor's [DEFAULT] host: judged with this
    # machine's clock, a clock 90 s ahead took the running one for dead.
    _skewed(monkeypatch, 3 * TIMEOUT)
    assert hash_ring.is_alive(db_api.get_conductor("c2"), timeout=TIMEOUT)
