"""``[conductor] automated_clean`` and the node's ``automated_clean`` field (API 1.47).

Every ``provide`` and ``undeploy`` ran the automated clean steps: there was
no way to turn them off, for the pool or for one node, and the node field
Ironic's clients send (``baremetal node set --no-automated-clean``) was
shown null and refused when set. As in Ironic: the option (default True)
decides for nodes whose field is null; ``false`` on a node skips its
cleaning, ``true`` cleans it even with the option off. Skipped, nothing runs
(not even prepare_cleaning) and the node goes straight to ``available``.
"""

import json

import pytest

from hwdrivers.api import app as app_mod
from hwdrivers.api import microversions
from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api

CTX = hw_context.get_admin_context()


@pytest.fixture
def option(config):
    """Sets ``[conductor] automated_clean`` (the config fixture restores it)."""
    return lambda value: config(conductor__automated_clean=value)


CLEANED = ["prepare_cleaning", "erase_devices", "tear_down_cleaning"]


@pytest.mark.parametrize("option_value,field,expected", [
    (True, None, CLEANED), (True, True, CLEANED), (True, False, []),
    (False, None, []), (False, False, []), (False, True, CLEANED),
])
def test_provide_and_undeploy_follow_the_field_then_the_option(
        manager, clean_calls, option, option_value, field, expected):
    option(option_value)
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "ac1",
                                     "automated_clean": field})
    manager.do_provisioning_action(CTX, "ac1", "manage")
    manager.do_provisioning_action(CTX, "ac1", "provide")
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "available", record["last_error"]
    assert record["target_provision_state"] is None and record["last_error"] is None
    assert clean_calls == expected
    manager.do_provisioning_action(CTX, "ac1", "deploy")
    clean_calls.clear()
    manager.do_provisioning_action(CTX, "ac1", "undeploy")
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "available" and record["instance_info"] == {}
    assert clean_calls == expected


def test_a_skipped_cleaning_takes_an_undeploy_in_maintenance_to_available(manager, clean_calls):
    """As Ironic, the skip comes before the maintenance check: nothing would run."""
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "ac2"})
    for action in ("manage", "provide", "deploy"):
        manager.do_provisioning_action(CTX, "ac2", action)
    manager.update_node(CTX, "ac2", set_values={"automated_clean": False})
    manager.set_maintenance(CTX, "ac2", True, reason="fan")
    clean_calls.clear()
    manager.do_provisioning_action(CTX, "ac2", "undeploy")
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "available" and clean_calls == []


def test_manual_cleaning_ignores_the_toggles(manager, clean_calls, option):
    option(False)
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "ac3",
                              "automated_clean": False})
    manager.do_provisioning_action(CTX, "ac3", "manage")
    manager.do_provisioning_action(CTX, "ac3", "clean", clean_steps=[
        {"interface": "deploy", "step": "erase_devices"}])
    assert clean_calls == ["erase_devices"]
    assert db_api.get_node("ac3")["provision_state"] == "manageable"


@pytest.mark.parametrize("value", [1, "false", {}])
def test_a_value_that_is_not_a_boolean_is_refused_naming_the_field(manager, value):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "ac4"})
    with pytest.raises(exception.InvalidParameterValue,
                       match="field automated_clean must be true, false or null"):
        manager.update_node(CTX, "ac4", set_values={"automated_clean": value})
    assert db_api.get_node("ac4")["automated_clean"] is None


class _Service:
    def __init__(self):
        self.manager = manager_mod.ConductorManager()  # no pool: the work runs inline


def _caller():
    client = app_mod.create_app(_Service()).test_client()

    def call(method, path, body=None, version="1.47"):
        resp = getattr(client, method)(path, data=None if body is None else json.dumps(body),
                                       headers={microversions.HEADER: version,
                                                "Content-Type": "application/json"})
        return resp.status_code, resp.get_json()
    return call


@pytest.fixture
def call(sqlite_database):
    return _caller()


def test_the_api_shows_and_sets_the_field_from_1_47(call, clean_calls):
    status, node = call("post", "/v1/nodes", {"driver": "fake-hardware", "name": "ac5",
                                              "automated_clean": False})
    assert status == 201 and node["automated_clean"] is False
    assert call("get", "/v1/nodes/ac5")[1]["automated_clean"] is False
    assert "automated_clean" not in call("get", "/v1/nodes/ac5", version="1.46")[1]
    status, body = call("patch", "/v1/nodes/ac5", [
        {"op": "replace", "path": "/automated_clean", "value": True}], version="1.46")
    assert status == 406 and "1.47" in body["error_message"]
    status, node = call("patch", "/v1/nodes/ac5", [
        {"op": "replace", "path": "/automated_clean", "value": True}])
    assert status == 200 and node["automated_clean"] is True
    status, node = call("patch", "/v1/nodes/ac5", [
        {"op": "remove", "path": "/automated_clean"}])
    assert status == 200 and node["automated_clean"] is None
    status, body = call("patch", "/v1/nodes/ac5", [
        {"op": "replace", "path": "/automated_clean", "value": "maybe"}])
    assert status == 400 and "Field automated_clean must be true or false" in \
        body["error_message"], body
    # Ironic's boolean strings, as baremetal node set --automated-clean sends "True"
    status, node = call("patch", "/v1/nodes/ac5", [
        {"op": "add", "path": "/automated_clean", "value": "True"}])
    assert status == 200 and node["automated_clean"] is True
    status, node = call("patch", "/v1/nodes/ac5", [
        {"op": "replace", "path": "/automated_clean", "value": False}])
    assert status == 200
    for target in ("manage", "provide"):
        assert call("put", "/v1/nodes/ac5/states/provision", {"target": target})[0] == 202
    assert call("get", "/v1/nodes/ac5")[1]["provision_state"] == "available"
    assert clean_calls == []


def test_nodes_sort_by_automated_clean_page_after_page(database):
    """Sorting by it was sorting by id while the field was not stored; then a 400.

    On SQLite and PostgreSQL (``database``): pages of a nullable boolean.
    """
    call = _caller()
    for name, value in (("s-true", True), ("s-null", None), ("s-false", False)):
        assert call("post", "/v1/nodes", {"driver": "fake-hardware", "name": name,
                                          "automated_clean": value})[0] == 201
    seen, path = [], "/v1/nodes?sort_key=automated_clean&limit=1&fields=name"
    while path:
        status, body = call("get", path)
        assert status == 200, body
        seen += [n["name"] for n in body["nodes"]]
        path = body.get("next", "").replace("http://localhost", "") or None
    assert seen == ["s-null", "s-false", "s-true"]  # nulls first (db_api.list_nodes)
