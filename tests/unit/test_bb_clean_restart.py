"""A manual cleaning's plan after a conductor died in the middle of it.

The restart moves the node from ``cleaning`` to ``clean failed`` in the
database alone, so ``driver_internal_info.clean_steps`` and
``clean_step_index`` stayed, and went on through ``manage``, ``provide``
and on into ``available`` and beyond: a node showing a cleaning in
progress that had ended long before. Ironic wipes its cleaning info
whenever a cleaning ends. The plan now stays while the node is in ``clean
failed`` (it says which step ran) and goes with the next transition.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import provisioning
from hwdrivers.conductor import service as service_mod
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api

CTX = hw_context.get_admin_context()
STEPS = [{"interface": "deploy", "step": "erase_devices"}]


@pytest.fixture
def node(manager):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "cr1"})
    manager.do_provisioning_action(CTX, "cr1", "manage")
    return node


def _die_mid_clean(node):
    """Publish a manual cleaning, then lose its worker and restart, as a SIGKILL does."""
    with task_manager.acquire(CTX, "cr1", purpose="provision clean") as task:
        provisioning.begin(task, "clean", clean_steps=STEPS)  # its worker never runs
    db_api.abort_orphaned_operations([], service_mod.RESTART_ERROR % "c1",
                                     service_mod._ORPHAN_PROVISION_FAILURES)
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "clean failed"
    assert record["driver_internal_info"]["clean_steps"] == STEPS  # which step ran
    return record


def test_manage_after_a_restart_mid_clean_drops_the_plan(manager, node):
    _die_mid_clean(node)
    manager.do_provisioning_action(CTX, "cr1", "manage")
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "manageable"
    assert "clean_steps" not in record["driver_internal_info"]
    assert "clean_step_index" not in record["driver_internal_info"]
    manager.do_provisioning_action(CTX, "cr1", "provide")
    assert "clean_steps" not in db_api.get_node(node.id)["driver_internal_info"]


def test_a_refused_action_keeps_the_plan(manager, node):
    """A 400 changes nothing, the plan included."""
    _die_mid_clean(node)
    with pytest.raises(Exception, match="allowed actions in this state: manage"):
        manager.do_provisioning_action(CTX, "cr1", "provide")
    assert db_api.get_node(node.id)["driver_internal_info"]["clean_steps"] == STEPS
