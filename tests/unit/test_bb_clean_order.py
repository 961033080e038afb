"""Automated clean (and deploy) steps of equal priority on several interfaces.

Only the priority ordered them: a tie ran in the order the driver lists its
interfaces (the deploy interface's step before the power and management
ones, raid before bios). Ironic breaks a tie by interface, highest first:
vendor, power, management, firmware, deploy, bios, raid
(``CLEANING_INTERFACE_PRIORITY``, the same for deploy steps); hwdrivers now
does too.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import deployments
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers import base
from hwdrivers.drivers.modules import fake

CTX = hw_context.get_admin_context()
#: fake interface class -> its kind, each given a clean and a deploy step of priority 10
TIED = {fake.FakeRAID: "raid", fake.FakeBIOS: "bios", fake.FakeManagement: "management",
        fake.FakePower: "power", fake.FakeVendor: "vendor"}
IRONIC_ORDER = ["vendor", "power", "management", "deploy", "bios", "raid"]


@pytest.fixture
def ran(sqlite_database, monkeypatch):
    """Steps of priority 10 on every fake interface (the deploy one has erase_devices)."""
    seen = []

    def record(self, task):
        seen.append(self.interface_type)

    for cls in TIED:
        monkeypatch.setattr(cls, "tied_clean_step", base.clean_step(priority=10)(
            lambda self, task: record(self, task)), raising=False)
        monkeypatch.setattr(cls, "tied_deploy_step", base.deploy_step(priority=100)(
            lambda self, task: record(self, task)), raising=False)
    original = fake.FakeDeploy.erase_devices
    monkeypatch.setattr(fake.FakeDeploy, "erase_devices", base.clean_step(priority=10)(
        lambda self, task: (record(self, task), original(self, task))[1]))
    return seen


def test_tied_automated_clean_steps_run_in_ironics_interface_order(ran):
    manager = manager_mod.ConductorManager()  # a registry composed after the patches
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "co1"})
    manager.do_provisioning_action(CTX, "co1", "manage")
    manager.do_provisioning_action(CTX, "co1", "provide")
    assert db_api.get_node(node.id)["provision_state"] == "available"
    assert ran == IRONIC_ORDER


def test_tied_deploy_steps_are_planned_in_ironics_interface_order(ran):
    manager = manager_mod.ConductorManager()
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "co2"})
    with task_manager.acquire(CTX, "co2", shared=True) as task:
        plan = deployments.deploy_steps(task)
    # fake's deploy.write_image has priority 100 too
    assert [step["interface"] for step in plan] == IRONIC_ORDER
    assert [step["step"] for step in plan if step["interface"] == "deploy"] == ["write_image"]
