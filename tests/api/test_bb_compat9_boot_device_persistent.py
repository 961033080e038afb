"""``persistent`` of a boot device request takes what Ironic's args.boolean takes.

Ironic validates it with ``args.boolean`` (oslo's strict bool_from_string):
JSON booleans and the strings "true", "False", "1", "yes"... in any case,
null meaning not persistent. hwdrivers took JSON booleans only, so a
script or playbook sending ``"persistent": "true"`` got a 400. Other values
stay a 400 naming the field.
"""

import pytest

from tests.api.conftest import error_of


@pytest.mark.parametrize("sent,stored", [
    ("true", True), ("False", False), ("1", True), ("no", False), (None, False),
])
def test_ironics_boolean_spellings_are_taken(api, make_node, sent, stored):
    make_node("bdp")
    resp = api.put("/v1/nodes/bdp/management/boot_device",
                   {"boot_device": "pxe", "persistent": sent})
    assert resp.status_code == 204, resp.get_data(as_text=True)
    assert api.get("/v1/nodes/bdp/management/boot_device").get_json() == {
        "boot_device": "pxe", "persistent": stored}


@pytest.mark.parametrize("sent", ["maybe", 2, []])
def test_other_values_are_a_400_naming_the_field(api, make_node, sent):
    make_node("bdp-bad")
    resp = api.put("/v1/nodes/bdp-bad/management/boot_device",
                   {"boot_device": "pxe", "persistent": sent})
    assert resp.status_code == 400
    assert "persistent" in error_of(resp)
