"""The provision state machine through the conductor manager, with fake-hardware."""

import functools
import threading

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import states
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import provisioning
from hwdrivers.conductor import workers as workers_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake
from tests.waits import wait_for

CTX = hw_context.get_admin_context()


@pytest.fixture
def manager(database):
    return manager_mod.ConductorManager()  # no pool: provisioning work runs inline


@pytest.fixture
def node(manager):
    return manager.create_node(CTX, {"driver": "fake-hardware", "name": "prov-node",
                                     "driver_info": {"fake_password": "s3cret"}})


def row(node):
    return db_api.get_node(node.id)


def patch_step(monkeypatch, name, replacement):
    """Replace a fake deploy step, keeping its clean-step marks (priority...)."""
    original = getattr(fake.FakeDeploy, name)
    monkeypatch.setattr(fake.FakeDeploy, name, functools.wraps(original)(replacement))


def test_end_to_end_with_a_worker_pool(database, config, monkeypatch):
    """enroll -> manageable -> available -> active -> available, asynchronously."""
    config(fake__deploy_delay="0.1", fake__power_delay="0.1")
    erased = []
    real_erase = fake.FakeDeploy.erase_devices
    patch_step(monkeypatch, "erase_devices",
               lambda self, task: (erased.append(task.node.uuid), real_erase(self, task))[1])
    pool = workers_mod.WorkerPool(4)
    manager = manager_mod.ConductorManager(workers=pool)
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "e2e"})
    assert row(node)["provision_state"] == "enroll"

    seen = []
    for action, working, final in (("manage", "verifying", "manageable"),
                                   ("provide", "cleaning", "available"),
                                   ("active", "deploying", "active"),
                                   ("deleted", "deleting", "available")):
        manager.do_provisioning_action(CTX, "e2e", action)
        seen.append((row(node)["provision_state"], working))  # published before the work
        wait_for(lambda final=final: row(node)["provision_state"] == final
                 and row(node)["reservation"] is None)
        record = row(node)
        assert record["target_provision_state"] is None
        assert record["last_error"] is None
    assert [found for found, _ in seen] == [working for _, working in seen]
    assert erased == [node.uuid, node.uuid]  # provide and undeploy both cleaned
    assert row(node)["power_state"] == "power off"  # verified by reading the BMC
    pool.shutdown(timeout=5)


def test_manage_reads_the_power_state_for_real(manager, node, monkeypatch):
    calls = []
    monkeypatch.setattr(fake.FakePower, "get_power_state",
                        lambda self, task: calls.append(task.node.uuid) or "power on")
    manager.do_provisioning_action(CTX, "prov-node", "manage")
    record = row(node)
    assert calls == [node.uuid]
    assert record["provision_state"] == "manageable"
    assert record["power_state"] == "power on"


def test_manage_with_bad_credentials_goes_back_to_enroll(manager, node, monkeypatch):
    def refuse(self, task):
        raise exception.DriverAuthError("BMC refused the credentials")

    monkeypatch.setattr(fake.FakePower, "get_power_state", refuse)
    with pytest.raises(exception.DriverAuthError):
        manager.do_provisioning_action(CTX, "prov-node", "manage")
    record = row(node)
    assert record["provision_state"] == "enroll"
    assert record["target_provision_state"] is None
    assert "BMC refused the credentials" in record["last_error"]
    assert "manage failed in provision state verifying" in record["last_error"]
    assert "s3cret" not in record["last_error"]
    assert record["reservation"] is None


def test_manage_with_invalid_driver_info_changes_nothing(manager, node):
    db_api.update_node(node.id, {"driver_info": {"fake_address": "not an address!"}})
    before = row(node)
    with pytest.raises(exception.InvalidParameterValue, match="fake_address"):
        manager.do_provisioning_action(CTX, "prov-node", "manage")
    after = row(node)
    assert after["provision_state"] == "enroll"
    assert {k: v for k, v in after.items() if k != "updated_at"} == \
        {k: v for k, v in before.items() if k != "updated_at"}


def test_cleaning_runs_automated_steps_by_priority(manager, node, monkeypatch):
    ran = []

    class Task:
        pass

    task = Task()
    task.node = node
    task.driver = manager.registry.compose(node)
    steps = provisioning.automated_clean_steps(task)
    assert [(s["interface"], s["step"]) for s in steps] == [("deploy", "erase_devices")]

    def execute(self, task, step):
        ran.append(step["step"])

    monkeypatch.setattr(fake.FakeDeploy, "execute_clean_step", execute)
    manager.do_provisioning_action(CTX, "prov-node", "manage")
    manager.do_provisioning_action(CTX, "prov-node", "provide")
    assert ran == ["erase_devices"]
    assert row(node)["provision_state"] == "available"


def test_failed_clean_step_lands_in_clean_failed(manager, node, monkeypatch):
    def fail(self, task):
        raise exception.DriverActionError("disk 2 would not erase")

    patch_step(monkeypatch, "erase_devices", fail)
    manager.do_provisioning_action(CTX, "prov-node", "manage")
    with pytest.raises(provisioning.StepFailed):
        manager.do_provisioning_action(CTX, "prov-node", "provide")
    record = row(node)
    assert record["provision_state"] == "clean failed"
    assert "clean step deploy.erase_devices" in record["last_error"]
    assert "disk 2 would not erase" in record["last_error"]
    # From clean failed, manage brings it back.
    manager.do_provisioning_action(CTX, "prov-node", "manage")
    assert row(node)["provision_state"] == "manageable"


def _to_available(manager):
    manager.do_provisioning_action(CTX, "prov-node", "manage")
    manager.do_provisioning_action(CTX, "prov-node", "provide")


def test_failed_deploy_then_undeploy(manager, node, monkeypatch):
    _to_available(manager)

    def fail(self, task):
        raise exception.DriverActionError("image write failed")

    monkeypatch.setattr(fake.FakeDeploy, "deploy", fail)
    with pytest.raises(exception.DriverActionError):
        manager.do_provisioning_action(CTX, "prov-node", "deploy")
    record = row(node)
    assert record["provision_state"] == "deploy failed"
    assert "image write failed" in record["last_error"]
    manager.do_provisioning_action(CTX, "prov-node", "undeploy")
    assert row(node)["provision_state"] == "available"


def test_abort_a_deploy_waiting_for_callback(manager, node, monkeypatch):
    _to_available(manager)
    monkeypatch.setattr(fake.FakeDeploy, "deploy", lambda self, task: "wait call-back")
    manager.do_provisioning_action(CTX, "prov-node", "deploy")
    assert row(node)["provision_state"] == "wait call-back"
    assert row(node)["target_provision_state"] == "active"
    manager.do_provisioning_action(CTX, "prov-node", "abort")
    record = row(node)
    assert record["provision_state"] == "deploy failed"
    assert record["target_provision_state"] is None
    assert "aborted" in record["last_error"]


@pytest.mark.parametrize("action", ["undeploy", "deleted"])
def test_undeploy_a_deploy_waiting_for_callback(manager, node, monkeypatch, action):
    """As Ironic (Nova deleting an instance mid-build): torn down, then cleaned."""
    _to_available(manager)
    monkeypatch.setattr(fake.FakeDeploy, "deploy", lambda self, task: "wait call-back")
    manager.update_node(CTX, "prov-node", {"instance_info": {"image_source": "x"}})
    manager.do_provisioning_action(CTX, "prov-node", "deploy")
    assert row(node)["provision_state"] == "wait call-back"
    torn_down = []
    monkeypatch.setattr(fake.FakeDeploy, "tear_down",
                        lambda self, task: torn_down.append(task.node.provision_state))
    manager.do_provisioning_action(CTX, "prov-node", action)
    record = row(node)
    assert torn_down == ["deleting"]
    assert record["provision_state"] == "available"
    assert record["target_provision_state"] is None
    assert record["instance_info"] == {}


def test_instance_info_cannot_change_under_a_running_deploy(manager, node, monkeypatch):
    _to_available(manager)
    monkeypatch.setattr(fake.FakeDeploy, "deploy", lambda self, task: "wait call-back")
    manager.update_node(CTX, "prov-node", {"instance_info": {"image_source": "http://a/x"}})
    manager.do_provisioning_action(CTX, "prov-node", "deploy")
    assert row(node)["provision_state"] == "wait call-back"
    with pytest.raises(exception.InvalidParameterValue) as info:
        manager.update_node(CTX, "prov-node", {"instance_info/image_source": "http://b/y"})
    assert "instance_info cannot change while it is deploying" in str(info.value)
    assert "abort" in str(info.value)
    assert row(node)["instance_info"] == {"image_source": "http://a/x"}
    # Other fields may change, and the same instance_info written back is no change.
    manager.update_node(CTX, "prov-node", {"extra/k": "v",
                                           "instance_info/image_source": "http://a/x"})
    manager.do_provisioning_action(CTX, "prov-node", "abort")
    manager.update_node(CTX, "prov-node", {"instance_info/image_source": "http://b/y"})
    assert row(node)["instance_info"] == {"image_source": "http://b/y"}


@pytest.mark.parametrize("action", ["provide", "deploy", "active", "undeploy", "abort"])
def test_invalid_transition_names_state_and_allowed_actions(manager, node, action):
    before = row(node)
    with pytest.raises(exception.InvalidStateRequested) as info:
        manager.do_provisioning_action(CTX, "prov-node", action)
    assert info.value.code == 400
    assert "'enroll'" in str(info.value)
    assert "allowed actions in this state: manage" in str(info.value)
    assert row(node) == before


def test_unknown_action_is_a_bad_request(manager, node):
    with pytest.raises(exception.InvalidParameterValue, match="use one of: manage"):
        manager.do_provisioning_action(CTX, "prov-node", "fly")


def test_deploy_refused_in_maintenance(manager, node):
    _to_available(manager)
    manager.set_maintenance(CTX, "prov-node", True, reason="fan broken")
    with pytest.raises(exception.NodeInMaintenance, match="fan broken"):
        manager.do_provisioning_action(CTX, "prov-node", "deploy")
    assert row(node)["provision_state"] == "available"


def test_set_maintenance(manager, node):
    manager.set_maintenance(CTX, "prov-node", True, reason="cabling")
    record = row(node)
    assert record["maintenance"] is True and record["maintenance_reason"] == "cabling"
    db_api.update_node(node.id, {"fault": "power failure", "power_sync_failures": 3})
    manager.set_maintenance(CTX, "prov-node", False)
    record = row(node)
    assert record["maintenance"] is False
    assert record["maintenance_reason"] is None and record["fault"] is None
    assert record["power_sync_failures"] == 0
    with pytest.raises(exception.InvalidParameterValue, match="true or false"):
        manager.set_maintenance(CTX, "prov-node", "yes")


def _busy_pool():
    """A pool of one worker, held busy until the returned event is set."""
    pool = workers_mod.WorkerPool(1)
    release = threading.Event()
    pool.submit(release.wait)
    return pool, release


def test_full_pool_refuses_provisioning_and_changes_nothing(database):
    pool, release = _busy_pool()
    manager = manager_mod.ConductorManager(workers=pool)
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "busy"})
    before = row(node)
    with pytest.raises(exception.NoFreeWorker):
        manager.do_provisioning_action(CTX, "busy", "manage")
    after = row(node)
    assert after["provision_state"] == "enroll"
    assert after["target_provision_state"] is None
    assert after["reservation"] is None
    assert after["last_error"] == before["last_error"]
    release.set()
    pool.shutdown(timeout=5)


def test_full_pool_refuses_power_and_changes_nothing(database):
    pool, release = _busy_pool()
    manager = manager_mod.ConductorManager(workers=pool)
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "busy"})
    db_api.update_node(node.id, {"last_error": "earlier trouble"})
    with pytest.raises(exception.NoFreeWorker):
        manager.change_power_state(CTX, "busy", "power on", wait=False)
    after = row(node)
    assert after["target_power_state"] is None
    assert after["last_error"] == "earlier trouble"
    assert after["reservation"] is None
    release.set()
    pool.shutdown(timeout=5)


def test_transition_table_is_consistent():
    for (source, action), (working, target) in states.PROVISION_TRANSITIONS.items():
        assert action.value in states.allowed_actions(source)
        assert working == target or working in states.FAILURE_STATES
    assert states.ProvisionAction.parse("active") is states.ProvisionAction.DEPLOY
    assert states.ProvisionAction.parse("deleted") is states.ProvisionAction.UNDEPLOY
