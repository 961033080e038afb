"""Transitions Ironic takes that hwdrivers refused, and the refusals' words.

A node whose undeploy failed (tear down raised) lands in ``error``; Ironic
takes ``rebuild`` there ("an errored instance can be rebuilt": Nova
rebuilds an instance in ERROR), hwdrivers answered 400 with ``undeploy``
the only action allowed.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake

CTX = hw_context.get_admin_context()


@pytest.fixture
def errored(manager, monkeypatch):
    """A deployed node whose undeploy failed in its tear down: provision state error."""
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "er1"})
    manager.update_node(CTX, "er1", {"instance_info": {"image_source": "http://i/x"}})
    for action in ("manage", "provide", "deploy"):
        manager.do_provisioning_action(CTX, "er1", action)

    def broken(self, task):
        raise exception.DriverActionError("BMC gone mid tear down")

    with monkeypatch.context() as patch:
        patch.setattr(fake.FakeDeploy, "tear_down", broken)
        with pytest.raises(exception.DriverActionError):
            manager.do_provisioning_action(CTX, "er1", "undeploy")
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "error", record
    return node


def test_rebuild_from_error_deploys_again(manager, errored):
    manager.do_provisioning_action(CTX, "er1", "rebuild")
    record = db_api.get_node(errored.id)
    assert record["provision_state"] == "active"
    assert record["target_provision_state"] is None and record["last_error"] is None
    assert record["instance_info"]["image_source"] == "http://i/x"


def test_error_names_every_action_it_allows(manager, errored):
    with pytest.raises(exception.InvalidStateRequested) as info:
        manager.do_provisioning_action(CTX, "er1", "deploy")
    assert info.value.code == 400
    assert "cannot deploy in provision state 'error'" in str(info.value)
    assert "allowed actions in this state: undeploy, rebuild" in str(info.value)


def test_rebuild_from_error_is_refused_in_maintenance(manager, errored):
    manager.set_maintenance(CTX, "er1", True, reason="PSU swap")
    with pytest.raises(exception.NodeInMaintenance, match="PSU swap"):
        manager.do_provisioning_action(CTX, "er1", "rebuild")
    assert db_api.get_node(errored.id)["provision_state"] == "error"
