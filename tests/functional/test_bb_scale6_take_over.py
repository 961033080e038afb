"""A survivor's take-over of a departed conductor's nodes runs beside its heartbeat.

The heartbeat that noticed the departure called ``deploy.take_over`` on
every adopted node itself once the worker pool was full: with thousands of
deployed nodes it was not written again for longer than
``heartbeat_timeout``, and the others presumed the survivor dead in turn.
Measured before the change: 10.5 s of one heartbeat for 5,000 adopted nodes
of 10,000 on PostgreSQL, with take_over a no-op.

Two real ConductorService objects (c1, c2) on PostgreSQL, a worker pool of
one, and a take_over that waits until the test lets it go: the heartbeat
must come back while the take-overs wait, and they all happen after.
"""

import datetime
import threading

import pytest

from hwdrivers.conductor import hash_ring
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from hwdrivers.drivers.modules import fake
from hwdrivers.objects import node as node_obj
from tests.functional import conductor_services
from tests.waits import wait_for


@pytest.fixture
def services(database, config):
    with conductor_services.started(config, ("c1", "c2"), conductor__workers_pool_size=1,
                                    conductor__heartbeat_timeout=60) as made:
        yield made


def _c2_nodes(count):
    """``count`` deployed nodes c2 owns while c1 and c2 are alive; their UUIDs."""
    ring, registry, made = hash_ring.Ring(["c1", "c2"]), factory.get_registry(), []
    index = 0
    while len(made) < count:
        row = db_api.create_node({"driver": "fake-hardware", "name": "a%d" % index,
                                  "provision_state": "active",
                                  "driver_info": {"fake_controller": "ctl-%d" % index}})
        index += 1
        if ring.owner(hash_ring.node_key(registry, node_obj.Node(row))) == "c2":
            made.append(row["uuid"])
        else:
            db_api.destroy_node(row["id"])
    return made


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_the_heartbeat_does_not_wait_for_the_take_over(services, monkeypatch):
    c1 = services["c1"]
    adopted = _c2_nodes(3)
    gate, taken = threading.Event(), []

    def take_over(self, task):
        gate.wait(120)
        taken.append(task.node.uuid)
    monkeypatch.setattr(fake.FakeDeploy, "take_over", take_over)

    c1.rings.refresh()
    c1.heartbeat()  # c1 sees c1 and c2
    db_api.unregister_conductor("c2")  # c2 stopped
    c1.rings.refresh()
    beat = threading.Thread(target=c1.heartbeat, daemon=True)
    try:
        beat.start()
        beat.join(60)
        assert not beat.is_alive(), "the heartbeat waited for the take-overs"
        assert taken == []
    finally:
        gate.set()
    wait_for(lambda: sorted(taken) == sorted(adopted), 60, message="the take-overs")
    beat.join(60)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_node_locked_by_the_draining_conductor_is_taken_over_once_free(
        services, monkeypatch):
    """A node the departed conductor still held (an operation it was draining)
    was skipped for good: "busy; taken over by the task that holds it", but
    that task was the departed conductor's, which takes nothing over. It is
    tried again until its lock is released."""
    c1 = services["c1"]
    locked, free = _c2_nodes(2)
    taken = []
    monkeypatch.setattr(fake.FakeDeploy, "take_over",
                        lambda self, task: taken.append(task.node.uuid))
    monkeypatch.setattr(c1, "ADOPT_RETRY", 0.2)
    owner = "c2 (draining)"
    row = db_api.get_node(locked)
    assert db_api.reserve_node(row["id"], owner, datetime.timedelta(minutes=5))

    c1.rings.refresh()
    c1.heartbeat()  # c1 sees c1 and c2
    db_api.unregister_conductor("c2")  # c2 leaves the ring to drain
    c1.rings.refresh()
    thread = c1.take_over_departed()
    wait_for(lambda: taken == [free], 30, message="the free node's take-over")
    assert thread.is_alive()  # still waiting for the locked one
    assert db_api.release_node(row["id"], owner)  # the drain finished
    thread.join(30)
    assert not thread.is_alive()
    assert taken == [free, locked]
