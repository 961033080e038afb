"""Malformed BIOS settings are refused by the API even for a node whose BIOS was never read.

Without a cached BIOS table the API checked only that ``settings`` was a list
of ``{"name", "value"}``: a null, object or array value, or an empty name,
was accepted (202), the node went to ``cleaning``, and the step then
reached the BMC to refuse it, leaving the node ``clean failed`` in
maintenance. No registry is needed to know such a setting is wrong.
"""

import pytest

from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row


@pytest.fixture
def uncached(api, make_node):
    make_node("bios9-shape", driver="redfish", driver_info={
        "redfish_address": "https://192.0.2.9", "redfish_username": "root",
        "redfish_password": "calvin"})
    db_api.update_node(row("bios9-shape")["id"], {"provision_state": "manageable"})


@pytest.mark.parametrize("setting, words", [
    ({"name": "BootMode", "value": None}, ["settings[1]", "null", '""']),
    ({"name": "BootMode", "value": {"mode": "Uefi"}}, ["settings[1]", "a JSON object"]),
    ({"name": "BootMode", "value": ["Uefi"]}, ["settings[1]", "a JSON array"]),
    ({"name": "", "value": "Uefi"}, ["settings[1]", "name"]),
])
def test_malformed_settings_are_400_without_a_cached_bios(api, uncached, setting, words):
    resp = api.put("/v1/nodes/bios9-shape/states/provision", {
        "target": "clean", "clean_steps": [{
            "interface": "bios", "step": "apply_configuration",
            "args": {"settings": [{"name": "ProcTurboMode", "value": "Disabled"}, setting]}}]})
    assert resp.status_code == 400
    message = error_of(resp)
    for word in words:
        assert word in message, message
    assert "settings[0]" not in message  # the good one is not blamed
    node = row("bios9-shape")
    assert node["provision_state"] == "manageable" and node["last_error"] is None
