"""Requests python-ironicclient sends that the openstacksdk-shaped routes missed.

``baremetal node passthru call NODE METHOD`` puts the method in the path
(``.../vendor_passthru/METHOD``) where openstacksdk uses ``?method=``;
``baremetal node set NODE --driver D --reset-interfaces`` adds
``?reset_interfaces=True`` to the PATCH (API 1.45); and the PATCH answer
must show the node as it is once its lock is released. Each is checked
through the Flask test client, then with the real client against a real
``hwdrivers-server``.
"""

import json
import os
import subprocess
import sys

import pytest

from hwdrivers.api import microversions
from hwdrivers.common import interface_types
from hwdrivers.db import api as db_api
from tests.api.conftest import error_of
from tests.api.conftest import row
from tests.functional import server_proc
from tests.waits import wait_for

INTERFACE_FIELDS = interface_types.NODE_FIELDS


def _interfaces(doc):
    return {f: doc[f] for f in INTERFACE_FIELDS}


# -- vendor passthru: the method in the path -------------------------------------

def test_path_form_calls_the_same_method_as_the_query_form(api, make_node):
    node = make_node("vp")
    by_path = api.post("/v1/nodes/vp/vendor_passthru/first_method", {"x": 1})
    by_query = api.post("/v1/nodes/vp/vendor_passthru?method=first_method", {"x": 1})
    assert by_path.status_code == by_query.status_code == 200
    assert by_path.get_json() == by_query.get_json() == {
        "node": node["uuid"], "args": {"x": 1}}
    assert api.get("/v1/nodes/vp/vendor_passthru/first_method").status_code == 200
    resp = api.post("/v1/nodes/vp/vendor_passthru/second_method", {"y": 2})
    assert resp.status_code == 202
    wait_for(lambda: row("vp")["driver_internal_info"].get("fake_vendor_last_call")
             == {"y": 2})


def test_path_form_agreeing_with_the_query_is_accepted(api, make_node):
    make_node("vsame")
    resp = api.post("/v1/nodes/vsame/vendor_passthru/first_method?method=first_method",
                    {"x": 1})
    assert resp.status_code == 200


def test_path_and_query_methods_that_differ_are_400_naming_both(api, make_node):
    make_node("vboth")
    before = row("vboth")
    resp = api.post("/v1/nodes/vboth/vendor_passthru/first_method?method=second_method",
                    {"x": 1})
    assert resp.status_code == 400
    message = error_of(resp)
    assert "first_method" in message and "second_method" in message
    assert row("vboth") == before


@pytest.mark.parametrize("method, path, status, words", [
    ("POST", "/v1/nodes/vbad/vendor_passthru/nope", 400, ["nope"]),
    ("DELETE", "/v1/nodes/vbad/vendor_passthru/first_method", 400, ["DELETE"]),
    ("POST", "/v1/nodes/vbad/vendor_passthru/first_method?methd=x", 400, ["methd"]),
    ("POST", "/v1/nodes/none/vendor_passthru/first_method", 404, ["none"]),
])
def test_path_form_refusals(api, make_node, method, path, status, words):
    make_node("vbad")
    before = row("vbad")
    resp = api.request(method, path)
    assert resp.status_code == status
    for word in words:
        assert word in error_of(resp)
    assert row("vbad") == before


def test_methods_segment_still_lists_the_methods(api, make_node):
    make_node("vlist")
    resp = api.get("/v1/nodes/vlist/vendor_passthru/methods")
    assert resp.status_code == 200
    assert set(resp.get_json()) >= {"first_method", "second_method"}
    # Any other HTTP method on .../methods is the list's 405, not a call of
    # a vendor method named "methods"; the message says how to call one.
    resp = api.post("/v1/nodes/vlist/vendor_passthru/methods", {})
    assert resp.status_code == 405
    allowed = resp.headers["Allow"].split(", ")
    assert "GET" in allowed and "POST" not in allowed
    assert "?method=methods" in error_of(resp)


# -- PATCH ?reset_interfaces -------------------------------------------------------

#: Interfaces a fake-hardware node may set that ipmi also supports, and one
#: (power: fake) it does not.
_CHOSEN = {"management_interface": "noop", "console_interface": "no-console",
           "power_interface": "fake"}
_TO_IPMI = [{"op": "replace", "path": "/driver", "value": "ipmi"},
            {"op": "replace", "path": "/driver_info",
             "value": {"ipmi_address": "192.0.2.10"}}]


def _ipmi_defaults(api):
    doc = api.get("/v1/drivers/ipmi").get_json()
    return {f: doc["default_%s" % f] for f in INTERFACE_FIELDS}


def test_reset_interfaces_sets_every_interface_to_the_new_drivers_default(api, make_node):
    make_node("ri", **_CHOSEN)
    patch = _TO_IPMI + [{"op": "replace", "path": "/console_interface",
                         "value": "no-console"}]
    resp = api.patch("/v1/nodes/ri?reset_interfaces=true", patch)
    assert resp.status_code == 200, error_of(resp)
    expected = dict(_ipmi_defaults(api), console_interface="no-console")
    assert _interfaces(resp.get_json()) == expected
    assert _interfaces(api.get("/v1/nodes/ri").get_json()) == expected
    # Stored unset (they follow the driver's default), but the patch's own.
    assert _interfaces(row("ri")) == dict(
        {f: None for f in INTERFACE_FIELDS}, console_interface="no-console")


@pytest.mark.parametrize("text", ["True", "TRUE", "1", "yes", "on", "t", "Y"])
def test_reset_interfaces_true_spellings(api, make_node, text):
    make_node("rt", power_interface="fake")
    resp = api.patch("/v1/nodes/rt?reset_interfaces=%s" % text, _TO_IPMI)
    assert resp.status_code == 200, error_of(resp)
    assert resp.get_json()["power_interface"] == "ipmitool"


@pytest.mark.parametrize("text", [None, "false", "False", "0", "no", "off", "f", "N"])
def test_without_reset_interfaces_chosen_interfaces_are_kept(api, make_node, text):
    """Today's behaviour, kept: interfaces the node never chose follow the
    new driver's defaults; those it chose are kept, and one the new driver
    cannot use is a 400 saying how to fix it (reset_interfaces among them)."""
    make_node("rk", management_interface="noop")
    query = "" if text is None else "?reset_interfaces=%s" % text
    resp = api.patch("/v1/nodes/rk" + query, _TO_IPMI)
    assert resp.status_code == 200, error_of(resp)
    expected = dict(_ipmi_defaults(api), management_interface="noop")
    assert _interfaces(resp.get_json()) == expected

    make_node("rk2", power_interface="fake")
    before = row("rk2")
    resp = api.patch("/v1/nodes/rk2" + query, _TO_IPMI)
    assert resp.status_code == 400
    message = error_of(resp)
    assert "power_interface fake" in message and "reset_interfaces" in message
    assert row("rk2") == before


def test_no_reset_interfaces_hint_when_the_patch_sets_the_refused_interface(
        api, make_node):
    """reset_interfaces resets only what the patch leaves: when the patch itself
    names the interface the new driver refuses, the hint would not help."""
    make_node("rh")
    before = row("rh")
    resp = api.patch("/v1/nodes/rh", _TO_IPMI + [
        {"op": "replace", "path": "/power_interface", "value": "fake"}])
    assert resp.status_code == 400
    message = error_of(resp)
    assert "power_interface fake" in message and "reset_interfaces" not in message
    assert row("rh") == before


@pytest.mark.parametrize("patch", [
    [{"op": "replace", "path": "/extra", "value": {"a": 1}}],
    [{"op": "replace", "path": "/driver", "value": "fake-hardware"},
     {"op": "replace", "path": "/extra", "value": {"a": 1}}],
], ids=["no driver", "same driver"])
def test_reset_interfaces_without_a_driver_change_is_400(api, make_node, patch):
    make_node("rn", management_interface="noop")
    before = row("rn")
    resp = api.patch("/v1/nodes/rn?reset_interfaces=true", patch)
    assert resp.status_code == 400
    assert ("reset_interfaces can only be given when changing the node's driver"
            in error_of(resp))
    assert row("rn") == before
    # reset_interfaces=false asks for nothing: the patch applies.
    resp = api.patch("/v1/nodes/rn?reset_interfaces=false", patch)
    assert resp.status_code == 200, error_of(resp)


@pytest.mark.parametrize("text", ["maybe", "", "2", "truee"])
def test_reset_interfaces_not_a_boolean_is_400(api, make_node, text):
    make_node("rb", power_interface="fake")
    before = row("rb")
    resp = api.patch("/v1/nodes/rb?reset_interfaces=%s" % text, _TO_IPMI)
    assert resp.status_code == 400
    message = error_of(resp)
    assert "reset_interfaces" in message and repr(text) in message
    assert row("rb") == before


@pytest.mark.parametrize("headers", [
    {microversions.HEADER: "1.44"},
    {microversions.GENERIC_HEADER: "baremetal 1.31"},
    {},  # no version asked: the minimum, 1.1
], ids=["1.44", "generic 1.31", "none"])
def test_reset_interfaces_before_1_45_is_an_unknown_query_parameter(api, make_node,
                                                                    headers):
    make_node("rv", power_interface="fake")
    before = row("rv")
    # The raw client: the helper would add the newest version's header.
    resp = api.raw.open("/v1/nodes/rv?reset_interfaces=true", method="PATCH",
                        headers=headers, data=json.dumps(_TO_IPMI),
                        content_type="application/json")
    assert resp.status_code == 400
    message = error_of(resp)
    assert "Unknown query parameter(s) reset_interfaces" in message
    assert "1.45" in message
    assert row("rv") == before


def test_reset_interfaces_at_1_45(api, make_node):
    make_node("r45", power_interface="fake")
    resp = api.patch("/v1/nodes/r45?reset_interfaces=true", _TO_IPMI,
                     headers={microversions.HEADER: "1.45"})
    assert resp.status_code == 200, error_of(resp)
    assert resp.get_json()["power_interface"] == "ipmitool"


def test_patch_still_refuses_other_query_parameters(api, make_node):
    make_node("rq")
    resp = api.patch("/v1/nodes/rq?bogus=1",
                     [{"op": "replace", "path": "/extra", "value": {"a": 1}}])
    assert resp.status_code == 400
    assert "bogus" in error_of(resp) and "reset_interfaces" in error_of(resp)


# -- PATCH answers with the node after its lock is released --------------------------

@pytest.mark.parametrize("patch", [
    [{"op": "replace", "path": "/extra", "value": {"rack": "r7"}}],
    [{"op": "replace", "path": "/name", "value": "renamed"}],
], ids=["extra", "name"])
def test_patch_response_shows_the_lock_released(api, make_node, monkeypatch, patch):
    node = make_node("lk")
    releases = []
    real_release = db_api.release_node
    monkeypatch.setattr(db_api, "release_node",
                        lambda *a: releases.append(a) or real_release(*a))
    resp = api.patch("/v1/nodes/lk", patch)
    assert resp.status_code == 200, error_of(resp)
    assert resp.get_json()["reservation"] is None
    # The lease went with the patch's own write: no separate release.
    assert releases == []
    assert row(node["uuid"])["reservation"] is None
    shown = api.get("/v1/nodes/%s" % node["uuid"]).get_json()
    for key in ("reservation", "extra", "name", "updated_at"):
        assert resp.get_json()[key] == shown[key], key


@pytest.mark.parametrize("values", [
    {"extra": {"rack": "r7"}},
    {"name": "renamed", "driver_info/fake_address": "10.0.0.9"},
    {"driver": "ipmi", "driver_info": {"ipmi_address": "192.0.2.10"}},
], ids=["extra", "name", "driver"])
def test_update_node_returns_the_released_node_on_each_backend(database, values):
    """The manager's own answer, on SQLite and PostgreSQL (both write paths)."""
    from hwdrivers.common import context as hw_context
    from hwdrivers.conductor import manager as manager_mod

    ctx = hw_context.get_admin_context()
    manager = manager_mod.ConductorManager()
    node = manager.create_node(ctx, {"driver": "fake-hardware", "name": "be",
                                     "power_interface": "fake"})
    reset = {"reset_interfaces": True} if "driver" in values else {}
    updated = manager.update_node(ctx, node.uuid, values, **reset)
    stored = db_api.get_node(node.id)
    assert updated.reservation is None and stored["reservation"] is None
    assert stored["reservation_expires"] is None
    assert updated.updated_at == stored["updated_at"]
    for field in ("name", "driver", "extra", "driver_info", "power_interface"):
        assert getattr(updated, field) == stored[field], field


def test_refused_patch_releases_the_lock(api, make_node):
    make_node("lr")
    resp = api.patch("/v1/nodes/lr", [{"op": "replace", "path": "/power_interface",
                                       "value": "nope"}])
    assert resp.status_code == 400
    assert row("lr")["reservation"] is None
    assert api.patch("/v1/nodes/lr", [{"op": "add", "path": "/extra/a",
                                       "value": 1}]).status_code == 200


# -- the real client against a real server -----------------------------------------

BAREMETAL = os.path.join(os.path.dirname(sys.executable), "baremetal")


@pytest.fixture
def server(tmp_path):
    with server_proc.running(tmp_path, name="ironicclient-routes") as proc:
        yield proc


def _baremetal(server, home, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(home)  # ironicclient caches the negotiated version there
    proc = subprocess.run(
        [BAREMETAL, "--os-endpoint", server.url, "--os-auth-type", "none"] + list(args),
        env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, "%s failed (%d):\n%s\n%s\nserver log:\n%s" % (
        " ".join(args), proc.returncode, proc.stdout, proc.stderr, server.log()[-3000:])
    return proc.stdout


def test_real_client_passthru_and_reset_interfaces(server, tmp_path, monkeypatch):
    """python-ironicclient's API and ``baremetal`` CLI, as an operator uses them."""
    from ironicclient import client as ironic_client

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # its version cache
    ironic = ironic_client.get_client(1, endpoint=server.url, auth_type="none",
                                      os_ironic_api_version="latest")
    node = ironic.node.create(driver="fake-hardware", name="real",
                              power_interface="fake", management_interface="noop")

    # vendor_passthru puts the method in the path, for each HTTP method.
    result = ironic.node.vendor_passthru(node.uuid, "first_method", args={"x": 1})
    assert result.to_dict() == {"node": node.uuid, "args": {"x": 1}}
    result = ironic.node.vendor_passthru(node.uuid, "first_method", http_method="GET")
    assert result.to_dict()["node"] == node.uuid
    ironic.node.vendor_passthru(node.uuid, "second_method", args={"y": 2})
    wait_for(lambda: '"y": 2' in server.db_rows(
        "SELECT driver_internal_info FROM nodes")[0]["driver_internal_info"],
        30, interval=0.1, message="second_method ran")
    home = tmp_path / "cli-home"
    out = _baremetal(server, home, "node", "passthru", "call", "real", "first_method",
                     "--arg", "x=2")
    assert node.uuid in out and "x" in out

    # node set --driver ... --reset-interfaces: the new driver's defaults.
    _baremetal(server, home, "node", "set", "real", "--driver", "ipmi",
               "--driver-info", "ipmi_address=192.0.2.10", "--reset-interfaces")
    shown = json.loads(_baremetal(server, home, "node", "show", "real", "-f", "json"))
    assert (shown["driver"], shown["power_interface"], shown["management_interface"]) == (
        "ipmi", "ipmitool", "ipmitool")

    # The same through the python API; its answer shows no lock held.
    ironic.node.update(node.uuid, [{"op": "replace", "path": "/management_interface",
                                    "value": "noop"}])
    patch = [{"op": "replace", "path": "/driver", "value": "redfish"},
             {"op": "replace", "path": "/driver_info",
              "value": {"redfish_address": "https://192.0.2.11",
                        "redfish_system_id": "/redfish/v1/Systems/1"}}]
    updated = ironic.node.update(node.uuid, patch, reset_interfaces=True)
    assert (updated.driver, updated.management_interface) == ("redfish", "redfish")
    assert updated.reservation is None
