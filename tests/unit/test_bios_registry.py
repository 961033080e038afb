"""BIOS settings against a registry: every refusal names the attribute and what is allowed."""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import bios_registry

REGISTRY = {
    "ProcTurboMode": {"attribute_type": "Enumeration",
                      "allowable_values": ["Enabled", "Disabled"], "value": "Enabled"},
    "NumCores": {"attribute_type": "Integer", "lower_bound": 10, "upper_bound": 20,
                 "read_only": True, "value": "10"},
    "Cores": {"attribute_type": "Integer", "lower_bound": 1, "upper_bound": 8},
    "QuietBoot": {"attribute_type": "Boolean"},
    "SerialNumber": {"attribute_type": "String", "min_length": 0, "max_length": 4},
}


def test_good_settings_pass_normalised():
    settings = [{"name": "ProcTurboMode", "value": "Disabled"}, {"name": "Cores", "value": 8},
                {"name": "QuietBoot", "value": "false"},
                {"name": "SerialNumber", "value": "ab"}]
    assert bios_registry.check_settings(settings, REGISTRY) == settings


@pytest.mark.parametrize("setting, words", [
    ({"name": "Nope", "value": 1}, ["Nope does not exist", "Cores, NumCores"]),
    ({"name": "NumCores", "value": "12"}, ["NumCores is read-only", "from 10 to 20"]),
    ({"name": "ProcTurboMode", "value": "Turbo"},
     ["'Turbo' is not allowed", "allowed values: Enabled, Disabled"]),
    ({"name": "Cores", "value": 9}, ["9 is out of range", "from 1 to 8"]),
    ({"name": "Cores", "value": "four"}, ["'four' is not an integer"]),
    ({"name": "Cores", "value": True}, ["True is not an integer"]),
    ({"name": "QuietBoot", "value": "maybe"}, ["not a boolean", "true or false"]),
    ({"name": "SerialNumber", "value": "toolong"}, ["7 characters", "0 to 4"]),
    ({"name": "Cores"}, ["settings[0] must be"]),
])
def test_bad_settings_are_refused_naming_the_attribute(setting, words):
    with pytest.raises(exception.InvalidParameterValue) as info:
        bios_registry.check_settings([setting], REGISTRY)
    message = str(info.value)
    assert "nothing was sent" in message
    for word in words:
        assert word in message


def test_every_problem_in_one_error():
    with pytest.raises(exception.InvalidParameterValue) as info:
        bios_registry.check_settings([{"name": "Nope", "value": 1},
                                      {"name": "Cores", "value": 0}], REGISTRY)
    assert "Nope" in str(info.value) and "0 is out of range" in str(info.value)
    for empty in ([], None, "ProcTurboMode=Disabled"):
        with pytest.raises(exception.InvalidParameterValue, match="non-empty list"):
            bios_registry.check_settings(empty, REGISTRY)
