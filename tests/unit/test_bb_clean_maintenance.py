"""Undeploy of a node in maintenance, and the automated clean steps after it.

``provide`` is refused in maintenance because its automated clean steps (a
disk erase) would drive hardware an operator took out of service, but
``undeploy``, which maintenance does not refuse, went on to run the very
same steps on the node in maintenance. As Ironic does with
``allow_provisioning_in_maintenance = False`` (the policy hwdrivers follows
for provide, deploy and clean), the cleaning now fails into ``clean
failed`` saying why, no step and no prepare_cleaning run; a node without
automated clean steps is undeployed to ``available`` as before.
"""


import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import provisioning
from hwdrivers.db import api as db_api

CTX = hw_context.get_admin_context()


@pytest.fixture
def deployed(manager, clean_calls):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "um1"})
    for action in ("manage", "provide", "deploy"):
        manager.do_provisioning_action(CTX, "um1", action)
    assert db_api.get_node(node.id)["provision_state"] == "active"
    clean_calls.clear()
    manager.set_maintenance(CTX, "um1", True, reason="disk 3 clicking")
    return node


def test_undeploy_in_maintenance_runs_no_clean_step(manager, deployed, clean_calls):
    with pytest.raises(exception.HWDriversError, match="in maintenance"):
        manager.do_provisioning_action(CTX, "um1", "undeploy")
    record = db_api.get_node(deployed.id)
    assert clean_calls == []
    assert record["provision_state"] == "clean failed"
    assert record["target_provision_state"] is None
    assert record["instance_info"] == {}  # the instance itself is gone
    for words in ("undeploy failed in provision state cleaning", "disk 3 clicking",
                  "deploy.erase_devices", "take it out of maintenance"):
        assert words in record["last_error"], record["last_error"]
    # The way back: manage (allowed in maintenance), then provide once out of it.
    manager.do_provisioning_action(CTX, "um1", "manage")
    with pytest.raises(exception.NodeInMaintenance):
        manager.do_provisioning_action(CTX, "um1", "provide")
    manager.set_maintenance(CTX, "um1", False)
    manager.do_provisioning_action(CTX, "um1", "provide")
    assert db_api.get_node(deployed.id)["provision_state"] == "available"
    assert clean_calls == ["prepare_cleaning", "erase_devices", "tear_down_cleaning"]


def test_undeploy_in_maintenance_without_clean_steps_reaches_available(
        manager, deployed, clean_calls, monkeypatch):
    monkeypatch.setattr(provisioning, "automated_clean_steps", lambda task: [])
    manager.do_provisioning_action(CTX, "um1", "undeploy")
    record = db_api.get_node(deployed.id)
    assert record["provision_state"] == "available" and record["last_error"] is None
    assert record["maintenance"] is True
