"""Node history: what task saves record, bounded per node, on SQLite and PostgreSQL."""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import node_history
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.db import history

CTX = hw_context.RequestContext(user="ops")


@pytest.fixture
def manager(database):
    return manager_mod.ConductorManager()


def _events(ident):
    return [(e["severity"], e["event_type"], e["event"])
            for e in node_history.list_events(CTX, ident)[1]]


def test_power_success_is_not_an_event_but_an_error_is(manager, config):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "h1"})
    manager.change_power_state(CTX, "h1", "power on")
    assert _events("h1") == []
    with task_manager.acquire(CTX, "h1", purpose="power power off") as task:
        task.node.last_error = "node h1, controller fake:x: the BMC said no"
        task.save()
    (event,) = node_history.list_events(CTX, "h1")[1]
    assert (event["severity"], event["event_type"]) == ("ERROR", "power")
    assert event["event"] == "node h1, controller fake:x: the BMC said no"
    assert event["user"] == "ops" and event["conductor"] == task_manager.CONF.host
    assert event["created_at"] is not None


def test_provisioning_and_maintenance_are_recorded(manager):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "h2"})
    manager.do_provisioning_action(CTX, "h2", "manage")
    manager.set_maintenance(CTX, "h2", True, reason="fan noise")
    manager.set_maintenance(CTX, "h2", False)
    assert _events("h2") == [
        ("INFO", "provisioning", "provision state verifying (target manageable)"),
        ("INFO", "provisioning", "provision state manageable"),
        ("WARNING", "maintenance", "maintenance set: fan noise"),
        ("INFO", "maintenance", "maintenance cleared")]


def test_history_is_bounded_per_node_and_pages(manager, config):
    config(conductor__node_history_max_entries=3)
    a = manager.create_node(CTX, {"driver": "fake-hardware", "name": "ha"})
    b = manager.create_node(CTX, {"driver": "fake-hardware", "name": "hb"})
    history.record(b.id, "other node", max_entries=3)
    for index in range(5):
        history.record(a.id, "event %d" % index, severity="WARNING", max_entries=3)
    events = history.list_events(a.id)
    assert [e["event"] for e in events] == ["event 2", "event 3", "event 4"]
    assert [e["event"] for e in history.list_events(b.id)] == ["other node"]
    page = history.list_events(a.id, limit=1, marker=events[0]["uuid"])
    assert [e["event"] for e in page] == ["event 3"]
    with pytest.raises(exception.InvalidParameterValue, match="not an event of node ha"):
        node_history.list_events(CTX, "ha", marker=events[0]["uuid"].replace("-", "")[:8])
    with pytest.raises(ValueError):
        history.record(a.id, "x", severity="LOUD")
    manager.delete_node(CTX, "ha")
    assert history.list_events(a.id) == []  # gone with its node


def test_history_can_be_turned_off(manager, config):
    config(conductor__node_history=False)
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "h3"})
    manager.set_maintenance(CTX, "h3", True, reason="x")
    assert _events("h3") == []


def test_a_failed_history_write_does_not_fail_the_operation(manager, monkeypatch, caplog):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "h4"})

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(history, "record", broken)
    manager.set_maintenance(CTX, "h4", True, reason="x")
    assert db_api.get_node("h4")["maintenance"] is True
    assert "could not record a history event" in caplog.text
