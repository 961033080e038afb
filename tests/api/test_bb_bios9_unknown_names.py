"""A BIOS attribute name the node does not have, on a machine whose BIOS has hundreds.

A Dell registry has ~400 attributes, an HPE one more. ``GET /v1/nodes/<node>/
bios/<name>`` for a misspelt name answered a 404 listing every attribute the
node has, and a manual cleaning request naming one did the same in its 400
(and, checked by the step against the live registry, in the node's
``last_error``, which every node listing carries): kilobytes of names to find
the one meant. Now the error names the closest names, how many the BIOS has,
and where the full list is.
"""

from hwdrivers.db import api as db_api
from hwdrivers.db import hardware as db_hardware
from tests.api.conftest import error_of, row

#: A BIOS as large as a real server's: ProcTurboMode among 400 others.
SETTINGS = [{"name": "ProcTurboMode", "value": "Enabled", "attribute_type": "Enumeration",
             "allowable_values": ["Enabled", "Disabled"]}] + [
    {"name": "VendorKnob%03d" % n, "value": "Off", "attribute_type": "String"}
    for n in range(400)]


def _bios_node(api, make_node, name):
    node = make_node(name, driver="redfish", driver_info={
        "redfish_address": "https://192.0.2.9", "redfish_username": "root",
        "redfish_password": "calvin"})
    db_api.update_node(row(name)["id"], {"provision_state": "manageable"})
    db_hardware.replace_bios_settings(row(name)["id"], SETTINGS)
    return node


def test_show_of_an_unknown_setting_names_the_closest_not_all(api, make_node):
    _bios_node(api, make_node, "bios9-show")
    resp = api.get("/v1/nodes/bios9-show/bios/ProcTurboMod")
    assert resp.status_code == 404
    message = error_of(resp)
    assert "ProcTurboMod" in message and "ProcTurboMode" in message
    assert "401" in message and "/v1/nodes/bios9-show/bios" in message
    assert "VendorKnob399" not in message
    assert len(message) < 400, message


def test_a_clean_step_naming_unknown_settings_names_the_closest_not_all(api, make_node):
    _bios_node(api, make_node, "bios9-clean")
    resp = api.put("/v1/nodes/bios9-clean/states/provision", {
        "target": "clean", "clean_steps": [{
            "interface": "bios", "step": "apply_configuration",
            "args": {"settings": [{"name": "ProcTurbo", "value": "Disabled"},
                                  {"name": "Zzz", "value": "1"}]}}]})
    assert resp.status_code == 400
    message = error_of(resp)
    assert "ProcTurbo, Zzz do not exist" in message
    assert "ProcTurboMode" in message and "401" in message
    assert "VendorKnob399" not in message
    assert len(message) < 600, message
    assert row("bios9-clean")["provision_state"] == "manageable"


def test_a_small_bios_is_still_listed_whole(api, make_node):
    """Twenty names or fewer: the whole list is shorter than any pointer to it."""
    node = make_node("bios9-small")
    db_hardware.replace_bios_settings(row("bios9-small")["id"], SETTINGS[:3])
    message = error_of(api.get("/v1/nodes/%s/bios/Nope" % node["uuid"]))
    assert "ProcTurboMode, VendorKnob000, VendorKnob001" in message
