"""A port's pxe_enabled takes what Ironic takes: booleans, Ironic's boolean strings, null.

python-ironicclient sends strings: ``baremetal port create --pxe-enabled
false`` sends "false", ``port set --pxe-disabled``/``--pxe-enabled`` send
"False"/"True" in the patch. Ironic converts them with oslo's strict
bool_from_string; hwdrivers does the same, stores a real boolean (the
boot interfaces test ``is not False``: a stored "False" string would
PXE boot), and refuses anything else with a 400 listing the spellings.
null means the default, true, on create and on PATCH.
"""

import pytest

from hwdrivers.db import api as db_api
from tests.api.conftest import error_of

MAC = "52:54:00:00:10:01"
TRUE = ["1", "t", "true", "on", "y", "yes", "True", "TRUE", "Yes", "ON", " true ", True]
FALSE = ["0", "f", "false", "off", "n", "no", "False", "FALSE", "No", "Off", " f", False]
REFUSED = ["maybe", "", "2", "truthy", "nope", 2, 1, 0, 1.0, [], {}, ["true"]]


@pytest.fixture
def node(make_node):
    return make_node("pb")


def _create(api, node, value):
    return api.post("/v1/ports", {"node_uuid": node["uuid"], "address": MAC,
                                  "pxe_enabled": value})


def _stored():
    (port,) = db_api.list_ports()
    return port["pxe_enabled"]


@pytest.mark.parametrize("value, expected", [(v, True) for v in TRUE]
                         + [(v, False) for v in FALSE] + [(None, True)])
def test_create_accepts_ironics_spellings(api, node, value, expected):
    resp = _create(api, node, value)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["pxe_enabled"] is expected
    assert _stored() is expected


@pytest.mark.parametrize("value", REFUSED)
def test_create_refuses_anything_else(api, node, value):
    resp = _create(api, node, value)
    assert resp.status_code == 400
    message = error_of(resp)
    assert message.startswith("Field pxe_enabled must be true or false"), message
    assert "1/t/true/on/y/yes" in message and "0/f/false/off/n/no" in message
    assert db_api.list_ports() == []


@pytest.mark.parametrize("op", ["replace", "add"])
@pytest.mark.parametrize("value, expected", [
    ("False", False), ("True", True), ("off", False), ("YES", True), (False, False),
])
def test_patch_accepts_ironics_spellings(api, node, op, value, expected):
    port = _create(api, node, not expected).get_json()
    assert port["pxe_enabled"] is (not expected)
    resp = api.patch("/v1/ports/" + port["uuid"],
                     [{"op": op, "path": "/pxe_enabled", "value": value}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["pxe_enabled"] is expected
    assert _stored() is expected


def test_patch_null_and_remove_mean_the_default(api, node):
    port = _create(api, node, "false").get_json()
    resp = api.patch("/v1/ports/" + port["uuid"],
                     [{"op": "replace", "path": "/pxe_enabled", "value": None}])
    assert resp.status_code == 200 and resp.get_json()["pxe_enabled"] is True
    api.patch("/v1/ports/" + port["uuid"], [{"op": "add", "path": "/pxe_enabled",
                                             "value": "n"}])
    assert _stored() is False
    resp = api.patch("/v1/ports/" + port["uuid"], [{"op": "remove", "path": "/pxe_enabled"}])
    assert resp.get_json()["pxe_enabled"] is True and _stored() is True


@pytest.mark.parametrize("value", ["maybe", 2, "Falsey"])
def test_patch_refuses_anything_else_and_changes_nothing(api, node, value):
    port = _create(api, node, False).get_json()
    before = db_api.get_port(port["uuid"])
    resp = api.patch("/v1/ports/" + port["uuid"], [
        {"op": "add", "path": "/extra/a", "value": 1},
        {"op": "replace", "path": "/pxe_enabled", "value": value}])
    assert resp.status_code == 400
    assert "Field pxe_enabled must be true or false" in error_of(resp)
    assert db_api.get_port(port["uuid"]) == before
