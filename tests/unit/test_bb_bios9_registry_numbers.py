"""A BIOS registry's bounds and lengths: any whole number a vendor chose is kept.

Registries bound Integer attributes with 4294967295 (an unsigned 32-bit
field) and some BMCs send numbers as strings. The ``bios_settings`` columns
were 32-bit on PostgreSQL, so such a registry failed to save ("integer out
of range") and the node's BIOS table went stale; a string bound reached the
range check as a string (a TypeError, not a refusal). Now the columns are
64-bit (migration 0009) and the numbers are read as whole numbers or as no
bound, by the redfish BIOS interface and, for any plugin's, by the
conductor before it stores them.
"""

import pytest

from hwdrivers.conductor import cleaning
from hwdrivers.db import api as db_api
from hwdrivers.db import hardware as db_hardware
from hwdrivers.drivers.modules import bios_registry
from hwdrivers.drivers.task import StandaloneTask

ODD_REGISTRY = {"lower_bound": "-5", "upper_bound": 4294967295.0,
                "min_length": 2 ** 70, "max_length": True}


@pytest.mark.parametrize("given, kept", [
    (10, 10), (10.0, 10), ("10", 10), (" -3 ", -3), ("+4", 4), (4294967295, 4294967295),
    (-2 ** 63, -2 ** 63), (2 ** 63, None), ("-+4", None), ("1e3", None), (10.5, None),
    (True, None), (None, None), ("abc", None), ("\u0661\u0662", None), ([1], None),
    (float("inf"), None), (float("nan"), None),
])
def test_registry_numbers_are_whole_numbers_or_no_bound(given, kept):
    assert bios_registry.registry_int(given) == kept


def test_a_string_bound_is_a_refusal_not_a_type_error():
    registry = {"NumCores": {"attribute_type": "Integer",
                             "lower_bound": bios_registry.registry_int("1"),
                             "upper_bound": bios_registry.registry_int("64")}}
    with pytest.raises(Exception) as info:
        bios_registry.check_settings([{"name": "NumCores", "value": 65}], registry)
    assert "out of range" in str(info.value) and "from 1 to 64" in str(info.value)


def test_unsigned_32_bit_bounds_are_stored_on_every_backend(database):
    node = db_api.create_node({"driver": "fake-hardware", "name": "bios9-wide"})
    db_hardware.replace_bios_settings(node["id"], [
        {"name": "Counter", "value": "7", "attribute_type": "Integer",
         "lower_bound": -2 ** 63, "upper_bound": 4294967295,
         "min_length": None, "max_length": 2 ** 63 - 1}])
    stored = db_hardware.get_bios_setting(node["id"], "Counter")
    assert (stored["lower_bound"], stored["upper_bound"], stored["max_length"]) == (
        -2 ** 63, 4294967295, 2 ** 63 - 1)


class _PluginBIOS:
    """A third-party BIOS interface whose registry numbers are the BMC's as sent."""

    reads_settings = True

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def cache_bios_settings(self, task):
        return [dict(ODD_REGISTRY, name="Counter", value="7", attribute_type="Integer")]


def test_the_conductor_stores_a_plugins_odd_numbers_as_whole_numbers_or_none(database):
    node = db_api.create_node({"driver": "fake-hardware", "name": "bios9-plugin"})
    task = StandaloneTask.for_driver("fake-hardware", {}, name="bios9-plugin")
    task.node.id = node["id"]
    task.driver.interfaces["bios"] = _PluginBIOS(task.driver.interfaces["bios"])
    assert cleaning.cache_bios(task) == 1
    stored = db_hardware.get_bios_setting(node["id"], "Counter")
    assert [stored[field] for field in bios_registry.NUMERIC_FIELDS] == [
        -5, 4294967295, None, None]
