"""Ports taking their node's lock, probed from outside through the API."""

import threading

from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row
from tests.api.test_ports_node_lock import CTX
from tests.api.test_ports_node_lock import _patch
from tests.api.test_ports_node_lock import port  # noqa: F401 (fixture)


def test_a_move_to_a_missing_node_is_a_400_naming_the_field(api, port):  # noqa: F811
    resp = _patch(api, port, "/node_uuid", "0b0b0b0b-0000-4000-8000-000000000000")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "node_uuid" in error_of(resp)
    assert db_api.get_port(port["uuid"])["node_id"] == row("lock-a")["id"]


def _while_locked(api, node, request, change):
    answers = []
    with task_manager.acquire(CTX, node, purpose="deploying"):
        waiting = threading.Thread(target=lambda: answers.append(request()))
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive()
        change()
    waiting.join(10)
    return answers[0]


def test_deleting_a_port_whose_node_went_while_waiting_names_the_port(
        api, config, port):  # noqa: F811
    """The node (and, by cascade, the port) is deleted while the DELETE waits
    for the node's lock: 404 for the port, as Ironic answers, not "Node 1
    could not be found" (the node's database id, which no client knows)."""
    config(api__node_locked_wait=1)
    resp = _while_locked(api, "lock-a", lambda: api.delete("/v1/ports/%s" % port["uuid"]),
                         lambda: db_api.destroy_node(row("lock-a")["id"]))
    assert resp.status_code == 404, resp.get_data(as_text=True)
    assert error_of(resp) == "Port %s could not be found." % port["uuid"]


def test_patching_a_port_whose_node_went_while_waiting_names_the_port(
        api, config, port):  # noqa: F811
    config(api__node_locked_wait=1)
    resp = _while_locked(api, "lock-a", lambda: _patch(api, port, "/pxe_enabled", False),
                         lambda: db_api.destroy_node(row("lock-a")["id"]))
    assert resp.status_code == 404, resp.get_data(as_text=True)
    assert error_of(resp) == "Port %s could not be found." % port["uuid"]


def test_moving_a_port_to_a_node_that_went_while_waiting_is_a_400(
        api, config, port):  # noqa: F811
    """As a move to a node missing from the start (Ironic's 400), naming the
    node as the client did, not by its database id."""
    config(api__node_locked_wait=1)
    target = row("lock-b")
    resp = _while_locked(api, "lock-b",
                         lambda: _patch(api, port, "/node_uuid", target["uuid"]),
                         lambda: db_api.destroy_node(target["id"]))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert error_of(resp) == "Field node_uuid: node %s does not exist." % target["uuid"]
    assert db_api.get_port(port["uuid"])["node_id"] == row("lock-a")["id"]
