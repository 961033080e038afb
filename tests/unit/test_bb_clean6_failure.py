"""A failed clean step puts the node in maintenance with fault ``clean failure``.

A clean step that failed half-way (a disk erase, a BIOS change) left the
node in ``clean failed`` and nothing else: ``manage`` then ``provide``
sent the same machine back into the pool without anyone having looked at
it. Ironic's cleaning error handler puts such a node in maintenance with
fault ``clean failure`` (the reason: the error, unless one is there
already); leaving maintenance clears the fault. A cleaning that failed
before any step ran (prepare_cleaning) did nothing to the machine and
leaves maintenance alone, as Ironic's handler does (it holds the node only
when a clean step was running).
"""

import json

import pytest

from hwdrivers.api import app as app_mod
from hwdrivers.api import microversions
from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake
from tests.unit.conftest import replace_erase_devices

CTX = hw_context.get_admin_context()
STEPS = [{"interface": "deploy", "step": "erase_devices"}]


@pytest.fixture
def node(manager):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "cf1"})
    manager.do_provisioning_action(CTX, "cf1", "manage")
    return node


@pytest.fixture
def failing_erase(monkeypatch):
    """erase_devices fails the first time it runs, then works."""
    runs = []
    def erase(self, task):
        runs.append(task.node.provision_state)
        if len(runs) == 1:
            raise exception.HWDriversError("disk 2 did not answer")

    replace_erase_devices(monkeypatch, erase)
    return runs


def _assert_held(node, *words):
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "clean failed"
    assert record["maintenance"] is True
    assert record["fault"] == "clean failure"
    for text in (record["last_error"], record["maintenance_reason"]):
        for word in ("clean step deploy.erase_devices", "disk 2 did not answer") + words:
            assert word in text, text
    return record


@pytest.mark.parametrize("action,kwargs", [("clean", {"clean_steps": STEPS}),
                                           ("provide", {})], ids=["manual", "automated"])
def test_a_failed_step_holds_the_node_until_maintenance_is_unset(
        manager, node, failing_erase, action, kwargs):
    with pytest.raises(exception.HWDriversError, match="disk 2 did not answer"):
        manager.do_provisioning_action(CTX, "cf1", action, **kwargs)
    _assert_held(node)
    # The way back, as in Ironic: manage works in maintenance, provide does not.
    manager.do_provisioning_action(CTX, "cf1", "manage")
    with pytest.raises(exception.NodeInMaintenance):
        manager.do_provisioning_action(CTX, "cf1", "provide")
    manager.set_maintenance(CTX, "cf1", False)
    record = db_api.get_node(node.id)
    assert record["fault"] is None and record["maintenance_reason"] is None
    manager.do_provisioning_action(CTX, "cf1", "provide")
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "available"
    assert record["maintenance"] is False and record["last_error"] is None


def test_a_failed_prepare_cleaning_leaves_maintenance_alone(manager, node, monkeypatch):
    """Nothing ran on the machine: a clean failed node, not one held for an operator."""
    def refuse(self, task):
        raise exception.HWDriversError("no ramdisk image configured")

    monkeypatch.setattr(fake.FakeDeploy, "prepare_cleaning", refuse, raising=False)
    with pytest.raises(exception.HWDriversError, match="no ramdisk image"):
        manager.do_provisioning_action(CTX, "cf1", "provide")
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "clean failed"
    assert record["maintenance"] is False and record["fault"] is None


class _Service:
    def __init__(self):
        self.manager = manager_mod.ConductorManager()  # no pool: the work runs inline


def test_the_api_shows_the_fault_from_1_42(sqlite_database, failing_erase):
    client = app_mod.create_app(_Service()).test_client()

    def call(method, path, body=None, version="1.42"):
        return getattr(client, method)(path, data=json.dumps(body) if body else None,
                                       headers={microversions.HEADER: version,
                                                "Content-Type": "application/json"})

    assert call("post", "/v1/nodes", {"driver": "fake-hardware", "name": "cf2"}
                ).status_code == 201
    assert call("put", "/v1/nodes/cf2/states/provision", {"target": "manage"}
                ).status_code == 202
    # Inline (no worker pool), the worker's failure comes back as this request's answer.
    call("put", "/v1/nodes/cf2/states/provision", {"target": "provide"})
    shown = call("get", "/v1/nodes/cf2").get_json()
    assert shown["provision_state"] == "clean failed"
    assert shown["maintenance"] is True and shown["fault"] == "clean failure"
    assert "clean step deploy.erase_devices" in shown["last_error"]
    listed = call("get", "/v1/nodes?fault=clean%20failure").get_json()["nodes"]
    assert [n["uuid"] for n in listed] == [shown["uuid"]]
    assert "fault" not in call("get", "/v1/nodes/cf2", version="1.41").get_json()


def test_a_fault_filter_is_checked_as_ironic_checks_it(sqlite_database):
    """A misspelt fault matched no node (an empty list: "nothing failed cleaning")."""
    client = app_mod.create_app(_Service()).test_client()

    def listed(query, version):
        resp = client.get("/v1/nodes?" + query, headers={microversions.HEADER: version})
        return resp.status_code, resp.get_data(as_text=True)

    status, body = listed("fault=clean-failure", "1.42")
    assert status == 400, body
    assert "fault" in body and "clean failure" in body and "power failure" in body
    status, body = listed("fault=clean%20failure", "1.41")
    assert status == 406 and "1.42" in body, body
    status, body = listed("fault=service%20failure", "1.42")  # Ironic's, never set here
    assert status == 200 and json.loads(body) == {"nodes": []}


@pytest.mark.parametrize("power_off", [False, True])
@pytest.mark.parametrize("action,kwargs", [("clean", {"clean_steps": STEPS}),
                                           ("provide", {})], ids=["manual", "automated"])
def test_poweroff_in_cleanfail_powers_the_node_off(manager, node, failing_erase, config,
                                                   action, kwargs, power_off):
    """Ironic's [conductor] poweroff_in_cleanfail: off after the tear-down, if set."""
    config(conductor__poweroff_in_cleanfail=power_off)
    manager.change_power_state(CTX, "cf1", "power on")
    with pytest.raises(exception.HWDriversError, match="disk 2 did not answer"):
        manager.do_provisioning_action(CTX, "cf1", action, **kwargs)
    record = _assert_held(node)
    assert record["power_state"] == ("power off" if power_off else "power on")
    assert manager.get_power_state(CTX, "cf1").value == record["power_state"]


def test_a_failed_power_off_in_cleanfail_is_added_to_last_error(manager, node, failing_erase,
                                                                 config, monkeypatch):
    config(conductor__poweroff_in_cleanfail=True)
    manager.change_power_state(CTX, "cf1", "power on")

    def refuse(self, task, power_state, timeout=None):
        raise exception.DriverActionError("the BMC refused the power off")

    monkeypatch.setattr(fake.FakePower, "set_power_state", refuse)
    with pytest.raises(exception.HWDriversError, match="disk 2 did not answer"):
        manager.do_provisioning_action(CTX, "cf1", "provide")
    record = _assert_held(node)
    for word in ("poweroff_in_cleanfail", "the BMC refused the power off"):
        assert word in record["last_error"], record["last_error"]
    assert record["power_state"] == "power on"
