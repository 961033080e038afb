"""Where an automated cleaning is, on the node, while it runs and after its conductor died.

Manual cleaning shows its plan and the step running in
``driver_internal_info`` (``clean_steps``, ``clean_step_index``); automated
cleaning (provide, undeploy) showed nothing, so a node caught in
``cleaning``, or left in ``clean failed`` by a conductor restart, did not
say which step ran (Ironic shows ``clean_step``). It now records the same
keys, dropped when the cleaning ends however it ends.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import service as service_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import base
from hwdrivers.drivers.modules import fake
from tests.unit.conftest import replace_erase_devices

CTX = hw_context.get_admin_context()
PLAN = [{"interface": "power", "step": "check_psus"},
        {"interface": "deploy", "step": "erase_devices"}]


class WorkerDied(BaseException):
    """What a SIGKILL does to a worker: nothing after it runs, no handler either."""


@pytest.fixture
def seen(sqlite_database, monkeypatch):
    """Two automated steps, each recording the node's row as it runs."""
    rows = []

    def look(self, task):
        rows.append(db_api.get_node(task.node.id))

    monkeypatch.setattr(fake.FakePower, "check_psus",
                        base.clean_step(priority=20)(look), raising=False)
    replace_erase_devices(monkeypatch, look)
    return rows


@pytest.fixture
def manager(seen):
    manager = manager_mod.ConductorManager()  # composed after the patches; runs inline
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "ap1"})
    manager.do_provisioning_action(CTX, "ap1", "manage")
    return manager


def _info():
    return db_api.get_node("ap1")["driver_internal_info"]


def test_the_plan_and_the_running_step_show_then_go(manager, seen):
    manager.do_provisioning_action(CTX, "ap1", "provide")
    assert [(r["provision_state"], r["driver_internal_info"].get("clean_steps"),
             r["driver_internal_info"].get("clean_step_index")) for r in seen] == [
        ("cleaning", PLAN, 0), ("cleaning", PLAN, 1)]
    assert db_api.get_node("ap1")["provision_state"] == "available"
    assert "clean_steps" not in _info() and "clean_step_index" not in _info()


def test_a_failed_step_drops_the_plan(manager, monkeypatch):
    def broken(self, task):
        raise exception.DriverActionError("disk 2 would not erase")

    replace_erase_devices(monkeypatch, broken)
    with pytest.raises(exception.HWDriversError):
        manager.do_provisioning_action(CTX, "ap1", "provide")
    record = db_api.get_node("ap1")
    assert record["provision_state"] == "clean failed"
    assert "clean step deploy.erase_devices" in record["last_error"]
    assert "clean_steps" not in record["driver_internal_info"]


def test_a_conductor_dying_mid_step_leaves_the_step_shown(manager, monkeypatch):
    def killed(self, task):
        raise WorkerDied()

    replace_erase_devices(monkeypatch, killed)
    with pytest.raises(WorkerDied):
        manager.do_provisioning_action(CTX, "ap1", "provide")
    db_api.abort_orphaned_operations([], service_mod.RESTART_ERROR % "c1",
                                     service_mod._ORPHAN_PROVISION_FAILURES)
    record = db_api.get_node("ap1")
    assert record["provision_state"] == "clean failed"
    assert record["driver_internal_info"]["clean_steps"] == PLAN
    assert record["driver_internal_info"]["clean_step_index"] == 1  # deploy.erase_devices
    manager.do_provisioning_action(CTX, "ap1", "manage")
    assert "clean_steps" not in _info()
