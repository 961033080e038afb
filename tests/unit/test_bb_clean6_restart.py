"""A cleaning cut short by its conductor's restart says which step it cut.

The restart moved the node from ``cleaning`` to ``clean failed`` with the
generic "The operation was aborted by a conductor restart ..." and nothing
else: not that it was cleaning, nor which step, and a disk erase stopped
half-way left the node ready for ``manage`` and ``provide``. As Ironic's
handler of a cleaning aborted by a conductor take-over, the conductor now
finishes that failure (at start, and on each deploy-timeouts tick for the
nodes of conductors that died): last_error names the step and says the node
was moved to clean failed, the plan goes, and a node whose step was running
is held in maintenance with fault ``clean failure``.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import cleaning
from hwdrivers.conductor import provisioning
from hwdrivers.conductor import service as service_mod
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers import base

CTX = hw_context.get_admin_context()
STEPS = [{"interface": "deploy", "step": "erase_devices"},
         {"interface": "deploy", "step": "erase_devices"}]


@pytest.fixture
def node(manager):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "cr6"})
    manager.do_provisioning_action(CTX, "cr6", "manage")
    return node


def _die_mid_clean(running_index):
    """Publish a manual cleaning at step ``running_index`` (None: none yet), then die."""
    with task_manager.acquire(CTX, "cr6", purpose="provision clean") as task:
        provisioning.begin(task, "clean", clean_steps=STEPS)  # its worker never runs
        base.update_internal_info(task, **{cleaning.INDEX_KEY: running_index})
        task.save()
    db_api.abort_orphaned_operations([], service_mod.RESTART_ERROR % "c6",
                                     service_mod._ORPHAN_PROVISION_FAILURES)


def test_a_step_cut_by_a_restart_is_named_and_holds_the_node(manager, node):
    _die_mid_clean(1)
    assert cleaning.tidy_orphans(CTX) == [node.uuid]
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "clean failed"
    for words in ("Cleaning interrupted while clean step deploy.erase_devices (step 2 of 2) "
                  "was running", "aborted by a conductor restart: conductor c6",
                  "moved to clean failed"):
        assert words in record["last_error"], record["last_error"]
    assert record["maintenance"] is True and record["fault"] == "clean failure"
    assert "step 2 of 2" in record["maintenance_reason"]
    info = record["driver_internal_info"]
    assert "clean_steps" not in info and "clean_step_index" not in info
    assert cleaning.tidy_orphans(CTX) == []  # once
    # The operator's way back, as after any failed step.
    manager.do_provisioning_action(CTX, "cr6", "manage")
    manager.set_maintenance(CTX, "cr6", False)
    assert db_api.get_node(node.id)["fault"] is None


def test_a_cleaning_cut_before_its_first_step_leaves_maintenance_alone(manager, node):
    _die_mid_clean(None)
    assert cleaning.tidy_orphans(CTX) == [node.uuid]
    record = db_api.get_node(node.id)
    assert "before its first clean step ran" in record["last_error"], record["last_error"]
    assert "moved to clean failed" in record["last_error"]
    assert record["maintenance"] is False and record["fault"] is None


def test_a_clean_failed_node_without_a_plan_is_left_as_it_is(manager, node, monkeypatch):
    """An ordinary failure wiped its plan and said what failed: nothing to add."""
    def fail(self, task):
        raise RuntimeError("disk 0 answered nothing")

    from hwdrivers.drivers.modules import fake
    monkeypatch.setattr(fake.FakeDeploy, "prepare_cleaning", fail, raising=False)
    with pytest.raises(RuntimeError):
        manager.do_provisioning_action(CTX, "cr6", "provide")
    before = db_api.get_node(node.id)
    assert before["provision_state"] == "clean failed"
    assert cleaning.tidy_orphans(CTX) == []
    assert db_api.get_node(node.id)["last_error"] == before["last_error"]


def test_the_conductor_start_tidies_them(manager, node, config):
    """recover(): the message is right from the restart on, not a periodic later."""
    _die_mid_clean(0)
    config(host="c6")
    service = service_mod.ConductorService()
    service.recover()
    record = db_api.get_node(node.id)
    assert "clean step deploy.erase_devices (step 1 of 2)" in record["last_error"]
    assert record["fault"] == "clean failure"


def test_a_node_that_cannot_be_tidied_stops_none_of_the_others(manager, node, monkeypatch):
    """This runs as the conductor starts: one bad node must not stop the start."""
    _die_mid_clean(0)
    other = manager.create_node(CTX, {"driver": "fake-hardware", "name": "cr7"})
    db_api.update_node(other.id, {"provision_state": "clean failed", "driver_internal_info": {
        "clean_steps": STEPS, "clean_step_index": 0}})
    real = cleaning._tidy

    def tidy(task):
        if task.node.name == "cr6":
            raise RuntimeError("driver gone")
        real(task)

    monkeypatch.setattr(cleaning, "_tidy", tidy)
    assert cleaning.tidy_orphans(CTX) == [other.uuid]


def test_poweroff_in_cleanfail_powers_off_a_cleaning_cut_by_a_restart(manager, node, config):
    config(conductor__poweroff_in_cleanfail=True)
    manager.change_power_state(CTX, "cr6", "power on")
    _die_mid_clean(0)
    assert cleaning.tidy_orphans(CTX) == [node.uuid]
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "clean failed" and record["power_state"] == "power off"
    assert manager.get_power_state(CTX, "cr6").value == "power off"
