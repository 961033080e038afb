"""Fields gated by API microversion, as Ironic gates them.

A document leaves out the fields newer than the version asked for, a
``?fields=``/``sort_key`` naming one is a 406, and so is a POST or PATCH
setting one (ironic/api/controllers/v1/utils.py VERSIONED_FIELDS,
node.py hide/reject_*_in_newer_versions, port.py _check_allowed_port_fields).
"""

import pytest

from hwdrivers.api import microversions
from hwdrivers.api import nodes
from hwdrivers.api import ports as ports_api
from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row


def _v(text):
    return {microversions.HEADER: text}


def test_node_document_has_the_fields_of_the_version_asked_for(api, make_node):
    make_node("mv1")
    latest = api.get("/v1/nodes/mv1").get_json()
    assert set(latest) == nodes.ALL_FIELDS  # the newest version hides nothing
    at_45 = api.get("/v1/nodes/mv1", headers=_v("1.45")).get_json()
    assert "fault" in at_45 and "deploy_step" in at_45 and "power_interface" in at_45
    for field in ("conductor_group", "conductor", "owner", "lessee", "health", "retired",
                  "shard", "instance_name", "boot_mode"):
        assert field not in at_45, field
    assert "conductor_group" in api.get("/v1/nodes/mv1", headers=_v("1.46")).get_json()
    assert "health" not in api.get("/v1/nodes/mv1", headers=_v("1.108")).get_json()
    # No version header: Ironic's 1.1, without even the name.
    oldest = api.get("/v1/nodes/mv1", headers={microversions.HEADER: "1.1"}).get_json()
    for field in ("name", "driver_internal_info", "power_interface", "states",
                  "portgroups", "volume", "raid_config"):
        assert field not in oldest, field
    assert {"uuid", "driver", "driver_info", "power_state", "links", "ports"} <= set(oldest)
    # Lists too, summary and detail alike.
    summary = api.get("/v1/nodes", headers=_v("1.4")).get_json()["nodes"][0]
    assert set(summary) == {"uuid", "instance_uuid", "power_state", "provision_state",
                            "maintenance", "links"}
    detail = api.get("/v1/nodes/detail", headers=_v("1.49")).get_json()["nodes"][0]
    assert "conductor" in detail and "owner" not in detail


@pytest.mark.parametrize("query, version, words", [
    ("?fields=uuid,owner", "1.49", ["owner", "1.50", "1.49", "leave them out"]),
    ("?fields=uuid,conductor_group,health", "1.45",
     ["conductor_group", "health", "1.109 or later"]),
    ("?fields=uuid,name", "1.7", ["fields", "1.8"]),
])
def test_fields_naming_a_newer_field_is_406(api, make_node, query, version, words):
    make_node("mv2")
    for path in ("/v1/nodes/mv2", "/v1/nodes"):
        resp = api.get(path + query, headers=_v(version))
        assert resp.status_code == 406, resp.get_data(as_text=True)
        message = error_of(resp)
        for word in words:
            assert word in message, message
        assert resp.headers[microversions.MAX_HEADER] == "1.109"
    assert api.get("/v1/nodes/mv2" + query).status_code == 200  # at the newest version


def test_sort_key_naming_a_newer_field_is_406(api, make_node):
    make_node("mv3")
    resp = api.get("/v1/nodes?sort_key=conductor_group", headers=_v("1.45"))
    assert resp.status_code == 406 and "sort_key" in error_of(resp)
    assert api.get("/v1/nodes?sort_key=conductor_group", headers=_v("1.46")).status_code == 200


def test_create_setting_a_newer_field_is_406_and_creates_nothing(api):
    body = {"driver": "fake-hardware", "name": "mv4", "conductor_group": "rack1"}
    resp = api.post("/v1/nodes", body, headers=_v("1.45"))
    assert resp.status_code == 406
    assert "conductor_group" in error_of(resp) and "1.46" in error_of(resp)
    assert db_api.list_nodes() == []
    # Unset values pass (null; "" for conductor_group), as in Ironic.
    resp = api.post("/v1/nodes", dict(body, conductor_group=""), headers=_v("1.45"))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert "conductor_group" not in resp.get_json()
    assert api.post("/v1/nodes", body, headers=_v("1.46")).status_code == 409  # name taken


def test_patch_setting_a_newer_field_is_406_and_changes_nothing(api, make_node):
    make_node("mv5", conductor_group="g1")
    before = row("mv5")
    resp = api.patch("/v1/nodes/mv5", [
        {"op": "add", "path": "/extra/k", "value": 1},
        {"op": "replace", "path": "/conductor_group", "value": "g2"}], headers=_v("1.45"))
    assert resp.status_code == 406
    assert "operation 1" in error_of(resp) and "conductor_group" in error_of(resp)
    assert row("mv5") == before
    # Ironic's node PATCH lets a remove through (it sets nothing new).
    resp = api.patch("/v1/nodes/mv5", [{"op": "remove", "path": "/conductor_group"}],
                     headers=_v("1.45"))
    assert resp.status_code == 200 and row("mv5")["conductor_group"] == ""


def test_port_fields_by_version(api, make_node):
    node = make_node("mvp")
    resp = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": "52:54:00:aa:00:01",
                                  "pxe_enabled": False}, headers=_v("1.18"))
    assert resp.status_code == 406 and "pxe_enabled" in error_of(resp)
    assert db_api.list_ports() == []
    port = api.post("/v1/ports", {"node_uuid": node["uuid"],
                                  "address": "52:54:00:aa:00:01"}).get_json()
    old = api.get("/v1/ports/" + port["uuid"], headers=_v("1.18")).get_json()
    assert "pxe_enabled" not in old and "local_link_connection" not in old
    assert "internal_info" in old and "physical_network" not in old
    assert "pxe_enabled" in api.get("/v1/ports/detail", headers=_v("1.19")).get_json()[
        "ports"][0]
    assert api.get("/v1/ports?fields=uuid,name",
                   headers=_v("1.87")).status_code == 406
    # A port's PATCH refuses even a remove of a newer field (Ironic's is_path_removed).
    resp = api.patch("/v1/ports/" + port["uuid"], [{"op": "remove", "path": "/pxe_enabled"}],
                     headers=_v("1.18"))
    assert resp.status_code == 406 and "pxe_enabled" in error_of(resp)
    assert set(api.get("/v1/ports/" + port["uuid"]).get_json()) == ports_api.ALL_FIELDS


def test_states_and_drivers_by_version(api, make_node):
    make_node("mvs")
    # GET .../states is answered by the fast path: it hides as Flask does.
    assert "raid_config" not in api.get("/v1/nodes/mvs/states",
                                        headers=_v("1.11")).get_json()
    assert "raid_config" in api.get("/v1/nodes/mvs/states",
                                    headers=_v("1.12")).get_json()
    old = api.get("/v1/drivers/fake-hardware", headers=_v("1.29")).get_json()
    assert "type" not in old and "default_power_interface" not in old
    at_31 = api.get("/v1/drivers/fake-hardware", headers=_v("1.31")).get_json()
    assert at_31["type"] == "dynamic" and "default_power_interface" in at_31
    assert "default_bios_interface" not in at_31
    assert "default_firmware_interface" in api.get("/v1/drivers/fake-hardware").get_json()


def test_bios_registry_fields_from_1_74(api, make_node):
    from hwdrivers.db import hardware as db_hardware
    make_node("mvb")
    db_hardware.replace_bios_settings(row("mvb")["id"], [
        {"name": "NumCores", "value": "8", "attribute_type": "Integer",
         "lower_bound": 1, "upper_bound": 16}])
    old = api.get("/v1/nodes/mvb/bios/NumCores", headers=_v("1.73")).get_json()["NumCores"]
    assert old["value"] == "8" and "attribute_type" not in old and "upper_bound" not in old
    new = api.get("/v1/nodes/mvb/bios/NumCores", headers=_v("1.74")).get_json()["NumCores"]
    assert new["attribute_type"] == "Integer" and new["upper_bound"] == 16
    listed = api.get("/v1/nodes/mvb/bios", headers=_v("1.73")).get_json()
    assert "lower_bound" not in listed["bios"][0]
    # detail and fields themselves are 1.74's, a 400 before, as Ironic's allow_query_bios.
    for query in ("detail=true", "detail=false", "fields=name,value"):
        resp = api.get("/v1/nodes/mvb/bios?" + query, headers=_v("1.73"))
        assert resp.status_code == 400, query
        assert "needs API version 1.74" in error_of(resp), error_of(resp)
    resp = api.get("/v1/nodes/mvb/bios?fields=name,attribute_type", headers=_v("1.74"))
    assert resp.status_code == 200 and resp.get_json()["bios"][0]["attribute_type"]


@pytest.mark.parametrize("state, version, shown", [
    ("available", "1.1", None), ("available", "1.2", "available"),
    ("inspect wait", "1.38", "inspecting"), ("inspect wait", "1.39", "inspect wait"),
    ("manageable", "1.1", "manageable"),
])
def test_older_versions_name_provision_states_as_ironic_did(api, make_node, state,
                                                            version, shown):
    """Ironic's update_state_in_older_versions: no 'available' before 1.2 (it was
    NOSTATE, null), 'inspecting' for 'inspect wait' before 1.39."""
    make_node("mvp")
    db_api.update_node(row("mvp")["id"], {"provision_state": state})
    for path in ("/v1/nodes/mvp", "/v1/nodes/mvp/states"):
        doc = api.get(path, headers=_v(version)).get_json()
        assert doc["provision_state"] == shown, (path, doc)
    listed = api.get("/v1/nodes", headers=_v(version)).get_json()["nodes"][0]
    assert listed["provision_state"] == shown
    assert row("mvp")["provision_state"] == state  # only the document says it otherwise


def test_states_document_has_boot_mode_from_1_75(api, make_node):
    make_node("mvm")
    at_74 = api.get("/v1/nodes/mvm/states", headers=_v("1.74")).get_json()
    assert "boot_mode" not in at_74 and "secure_boot" not in at_74
    at_75 = api.get("/v1/nodes/mvm/states", headers=_v("1.75")).get_json()
    assert at_75["boot_mode"] is None and at_75["secure_boot"] is None
