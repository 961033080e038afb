"""Automated cleaning whose step (or prepare_cleaning) answers ``clean wait``.

Nothing resumes a node waiting in ``clean wait`` (no clean callback, no
clean wait timeout), yet automated cleaning (provide, undeploy) published
that state and returned: the node stayed in ``clean wait``, target
``available``, for good, where Ironic would fail it after ``[conductor]
clean_callback_timeout``. It now fails into ``clean failed`` naming what
answered, as manual cleaning already did, and a failed automated cleaning
runs ``tear_down_cleaning`` (as Ironic's cleaning error handler does).
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake
from tests.unit.conftest import replace_erase_devices

CTX = hw_context.get_admin_context()


@pytest.fixture
def node(manager):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "cw1"})
    manager.do_provisioning_action(CTX, "cw1", "manage")
    return node


@pytest.fixture
def torn_down(monkeypatch):
    calls = []
    monkeypatch.setattr(fake.FakeDeploy, "tear_down_cleaning",
                        lambda self, task: calls.append(task.node.provision_state),
                        raising=False)
    return calls


def _provide(manager):
    with pytest.raises(exception.HWDriversError):
        manager.do_provisioning_action(CTX, "cw1", "provide")


def _assert_failed_naming(node, *words):
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "clean failed", record["provision_state"]
    assert record["target_provision_state"] is None
    for word in words:
        assert word in record["last_error"], record["last_error"]
    return record


def test_a_step_answering_clean_wait_fails_the_cleaning(manager, node, monkeypatch,
                                                        torn_down):
    replace_erase_devices(monkeypatch, lambda self, task: "clean wait")
    _provide(manager)
    _assert_failed_naming(node, "clean step deploy.erase_devices", "asynchronous",
                          "nothing would resume the node")
    assert torn_down == ["cleaning"]
    manager.do_provisioning_action(CTX, "cw1", "manage")  # the way back, as for any failure
    assert db_api.get_node(node.id)["provision_state"] == "manageable"


def test_prepare_cleaning_answering_clean_wait_fails_the_cleaning(manager, node,
                                                                  monkeypatch, torn_down):
    ran = []
    replace_erase_devices(monkeypatch, lambda self, task: ran.append(1))
    monkeypatch.setattr(fake.FakeDeploy, "prepare_cleaning",
                        lambda self, task: "clean wait", raising=False)
    _provide(manager)
    _assert_failed_naming(node, "prepare_cleaning of the fake deploy interface",
                          "asynchronous")
    assert ran == [] and torn_down == ["cleaning"]


def test_undeploy_with_an_async_step_fails_its_cleaning(manager, node, monkeypatch,
                                                        torn_down):
    manager.do_provisioning_action(CTX, "cw1", "provide")
    manager.do_provisioning_action(CTX, "cw1", "deploy")
    replace_erase_devices(monkeypatch, lambda self, task: "clean wait")
    with pytest.raises(exception.HWDriversError):
        manager.do_provisioning_action(CTX, "cw1", "undeploy")
    _assert_failed_naming(node, "undeploy failed in provision state cleaning",
                          "clean step deploy.erase_devices")


def test_a_failing_step_tears_down_the_cleaning(manager, node, monkeypatch, torn_down):
    def broken(self, task):
        raise exception.DriverActionError("disk 2 would not erase")

    replace_erase_devices(monkeypatch, broken)
    _provide(manager)
    _assert_failed_naming(node, "clean step deploy.erase_devices", "disk 2 would not erase")
    assert torn_down == ["cleaning"]


def test_a_failing_tear_down_keeps_the_steps_error(manager, node, monkeypatch):
    def broken(self, task):
        raise exception.DriverActionError("disk 2 would not erase")

    tried = []

    def tear_down(self, task):
        tried.append(1)
        raise exception.DriverActionError("tear down broke")

    replace_erase_devices(monkeypatch, broken)
    monkeypatch.setattr(fake.FakeDeploy, "tear_down_cleaning", tear_down, raising=False)
    _provide(manager)
    record = _assert_failed_naming(node, "disk 2 would not erase")
    assert tried == [1] and "tear down broke" not in record["last_error"]
