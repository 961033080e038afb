"""A BIOS refusal says what would be accepted, whichever bounds the registry gives.

Registries often give an Integer one bound or none (a LowerBound only; a BMC
whose bounds registry_int reads as none), and a String a MinLength without a
MaxLength. The refusal read "an integer from None to None", "an integer from
1 to None", and for a String too short, "'' has 0 characters; a string",
naming no minimum: nothing said what to send instead.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import bios_registry

REGISTRY = {
    "Unbounded": {"attribute_type": "Integer"},
    "LowOnly": {"attribute_type": "Integer", "lower_bound": 1},
    "HighOnly": {"attribute_type": "Integer", "upper_bound": 30},
    "Both": {"attribute_type": "Integer", "lower_bound": 0, "upper_bound": 30},
    "Banner": {"attribute_type": "String", "min_length": 1},
    "Asset": {"attribute_type": "String", "min_length": 2, "max_length": 8},
    "Tag": {"attribute_type": "String", "max_length": 4},
}


def _refusal(name, value):
    with pytest.raises(exception.InvalidParameterValue) as info:
        bios_registry.check_settings([{"name": name, "value": value}], REGISTRY)
    return str(info.value)


@pytest.mark.parametrize("name, value, wanted", [
    ("Unbounded", "abc", "'abc' is not an integer; an integer"),
    ("LowOnly", 0, "0 is out of range; an integer of at least 1"),
    ("HighOnly", 31, "31 is out of range; an integer of at most 30"),
    ("Both", 31, "31 is out of range; an integer from 0 to 30"),
    ("Banner", "", "'' has 0 characters; a string of at least 1 characters"),
    ("Asset", "x", "'x' has 1 characters; a string of 2 to 8 characters"),
    ("Tag", "abcde", "'abcde' has 5 characters; a string of 0 to 4 characters"),
])
def test_the_refusal_names_the_bounds_the_registry_gives(name, value, wanted):
    message = _refusal(name, value)
    assert wanted in message, message
    assert "None" not in message, message


def test_values_within_one_sided_bounds_pass():
    settings = [{"name": "LowOnly", "value": 10 ** 6}, {"name": "HighOnly", "value": -5},
                {"name": "Unbounded", "value": "7"}, {"name": "Banner", "value": "x"}]
    assert bios_registry.check_settings(settings, REGISTRY) == settings
