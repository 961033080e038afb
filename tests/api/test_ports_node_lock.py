"""Changing or deleting a port takes its node's lock, as in Ironic.

A port's MAC and pxe_enabled are what deploying, cleaning and inspection
work from. Ports took no lock: a change landed under a running action, and
the state rules (no new MAC on an active node...) were checked on the node
as read before the write, so a node that became active in between got the
change anyway. Now the API waits for the lock ([api]
node_locked_wait), checks the node as it is once locked, or
answers 409 naming who holds it.
"""

import threading

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row

MAC = "52:54:00:88:00:01"
CTX = hw_context.get_admin_context()


@pytest.fixture
def port(api, make_node):
    make_node("lock-a")
    make_node("lock-b")
    db_api.update_node(row("lock-a")["id"], {"provision_state": "manageable"})
    resp = api.post("/v1/ports", {"node_uuid": row("lock-a")["uuid"], "address": MAC})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def _patch(api, port, path, value):
    return api.patch("/v1/ports/%s" % port["uuid"],
                     [{"op": "replace", "path": path, "value": value}])


@pytest.mark.parametrize("node", ["lock-a", "lock-b"])
def test_a_locked_node_refuses_port_changes_and_deletion(api, config, port, node):
    """lock-a holds the port; lock-b is where a move would take it."""
    config(api__node_locked_wait=0)
    with task_manager.acquire(CTX, node, purpose="deploying"):
        changes = [_patch(api, port, "/node_uuid", row("lock-b")["uuid"]),
                   _patch(api, port, "/address", "52:54:00:88:00:02") if node == "lock-a"
                   else None,
                   api.delete("/v1/ports/%s" % port["uuid"]) if node == "lock-a" else None]
        for resp in filter(None, changes):
            assert resp.status_code == 409, resp.get_data(as_text=True)
            assert "Node %s is locked" % node in error_of(resp)
    assert db_api.get_port(port["uuid"])["address"] == MAC
    assert db_api.get_port(port["uuid"])["node_id"] == row("lock-a")["id"]
    # free again: the same requests go through
    assert _patch(api, port, "/node_uuid", row("lock-b")["uuid"]).status_code == 200
    assert api.delete("/v1/ports/%s" % port["uuid"]).status_code == 204


def test_the_state_rules_see_the_node_as_it_is_once_locked(api, config, port):
    """The node becomes active while the change waits for its lock: refused."""
    config(api__node_locked_wait=10)
    answers = []
    with task_manager.acquire(CTX, "lock-a", purpose="deploying") as task:
        waiting = threading.Thread(target=lambda: answers.append(
            _patch(api, port, "/address", "52:54:00:88:00:02")))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive() and not answers  # waiting for the lock
        task.node.provision_state = "active"
        task.node.save()
    waiting.join(10)
    [resp] = answers
    assert resp.status_code == 409, resp.get_data(as_text=True)
    assert "Field address" in error_of(resp) and "active" in error_of(resp)
    assert db_api.get_port(port["uuid"])["address"] == MAC


def test_a_port_moved_while_waiting_is_not_changed_on_its_old_node(api, config, port):
    config(api__node_locked_wait=10)
    answers = []
    with task_manager.acquire(CTX, "lock-a", purpose="deploying"):
        waiting = threading.Thread(target=lambda: answers.append(
            api.delete("/v1/ports/%s" % port["uuid"])))
        waiting.start()
        waiting.join(0.5)
        db_api.update_port(db_api.get_port(port["uuid"])["id"],
                           {"node_id": row("lock-b")["id"]})  # as another lock holder would
    waiting.join(10)
    [resp] = answers
    assert resp.status_code == 409 and "moved to another node" in error_of(resp)
    assert db_api.get_port(port["uuid"])["node_id"] == row("lock-b")["id"]


def test_moves_in_opposite_directions_queue_instead_of_deadlocking(api, config, port):
    """Each move locks both nodes in id order: neither holds what the other awaits."""
    config(api__node_locked_wait=10)
    resp = api.post("/v1/ports", {"node_uuid": row("lock-b")["uuid"],
                                  "address": "52:54:00:88:00:09"})
    other = resp.get_json()
    answers = {}

    def move(which, to):
        answers[which["uuid"]] = _patch(api, which, "/node_uuid", row(to)["uuid"])

    with task_manager.acquire(CTX, "lock-a", purpose="deploying"):
        threads = [threading.Thread(target=move, args=(other, "lock-a")),
                   threading.Thread(target=move, args=(port, "lock-b"))]
        for thread in threads:
            thread.start()
            thread.join(0.3)  # the first waits for lock-a before the second starts
    for thread in threads:
        thread.join(20)
    assert [answers[p["uuid"]].status_code for p in (port, other)] == [200, 200], {
        uuid: resp.get_data(as_text=True) for uuid, resp in answers.items()}
    assert db_api.get_port(port["uuid"])["node_id"] == row("lock-b")["id"]
    assert db_api.get_port(other["uuid"])["node_id"] == row("lock-a")["id"]


def test_a_port_deleted_while_waiting_is_named_by_its_uuid(api, config, port):
    """Read again by database id under the lock, a port gone meanwhile was
    'Port 1 could not be found': an id no client knows."""
    config(api__node_locked_wait=10)
    answers = []
    with task_manager.acquire(CTX, "lock-a", purpose="deploying"):
        waiting = threading.Thread(target=lambda: answers.append(
            _patch(api, port, "/extra", {"k": "v"})))
        waiting.start()
        waiting.join(0.5)
        db_api.destroy_port(db_api.get_port(port["uuid"])["id"])  # as the holder may
    waiting.join(10)
    [resp] = answers
    assert resp.status_code == 404, resp.get_data(as_text=True)
    assert "Port %s could not be found" % port["uuid"] in error_of(resp)
