"""Deleting a node is its task's last write, made only while the lease holds."""

import datetime
import logging

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api

CTX = hw_context.get_admin_context()


@pytest.fixture
def node(database):
    manager = manager_mod.ConductorManager()
    return manager, manager.create_node(CTX, {"driver": "fake-hardware", "name": "del-node"})


def test_a_delete_warns_of_no_lost_lease(node, caplog):
    manager, created = node
    with caplog.at_level(logging.WARNING):
        manager.delete_node(CTX, "del-node")
    assert not [r for r in caplog.records if "already gone" in r.getMessage()]
    with pytest.raises(exception.NodeNotFound):
        db_api.get_node(created.id)


def test_a_task_whose_lease_was_taken_over_deletes_nothing(node, caplog):
    _, created = node
    with pytest.raises(exception.LeaseLost):
        with task_manager.acquire(CTX, "del-node", purpose="node delete") as task:
            # Another conductor took the node over (the lease expired meanwhile).
            now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
            db_api.release_node(created.id, task.owner)
            assert db_api.reserve_node(created.id, "other-host:1", now + datetime.timedelta(
                seconds=60), now)
            task.destroy_node()
    assert db_api.get_node(created.id)["reservation"] == "other-host:1"


def test_deleting_a_node_already_gone_is_not_found(node):
    manager, created = node
    with pytest.raises(exception.NodeNotFound):
        with task_manager.acquire(CTX, "del-node", purpose="node delete") as task:
            db_api.destroy_node(created.id)  # someone else deleted it meanwhile
            task.destroy_node()
