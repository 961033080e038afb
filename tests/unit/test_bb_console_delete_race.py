"""A node deleted while its console came up does not keep a proxy serving it.

The delete stops the node's proxy when there is one; deleted between the
session coming up and the enable's record, there was none to stop yet, and
the record (of a node that is gone) was dropped silently: the proxy served
the deleted node's machine until the next sync (30 s). Error path, so the
deletion is placed in that window by hand.
"""

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import console_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake


def test_console_of_a_node_deleted_as_it_came_up_is_stopped(sqlite_database, monkeypatch):
    node = db_api.create_node({"driver": "fake-hardware"})
    manager = console_manager.ConsoleManager()
    monkeypatch.setattr(fake.FakeConsole, "console_needs_lock", False, raising=False)
    stopped = []

    def start_or_stop(task, enabled):
        db_api.destroy_node(node["id"])  # another request deletes it meanwhile

    monkeypatch.setattr(manager, "_start_or_stop", start_or_stop)
    monkeypatch.setattr(manager, "stop_proxy", lambda task: stopped.append(task.node.uuid))
    manager._apply(hw_context.get_admin_context(), node["uuid"], True)
    assert stopped == [node["uuid"]]


def test_console_enabled_normally_is_not_stopped(sqlite_database, monkeypatch):
    node = db_api.create_node({"driver": "fake-hardware"})
    manager = console_manager.ConsoleManager()
    monkeypatch.setattr(fake.FakeConsole, "console_needs_lock", False, raising=False)
    stopped = []
    monkeypatch.setattr(manager, "_start_or_stop", lambda task, enabled: None)
    monkeypatch.setattr(manager, "stop_proxy", lambda task: stopped.append(task.node.uuid))
    manager._apply(hw_context.get_admin_context(), node["uuid"], True)
    assert stopped == [] and db_api.get_node(node["id"])["console_enabled"] is True
