"""A manual cleaning request with tens of thousands of BIOS settings is checked in linear time.

``[api] max_request_body_size`` (1 MiB) lets a request carry ~40,000
``{"name", "value"}`` settings. The duplicate check counted each distinct
name over the whole list: 40,000 x 40,000 comparisons, about 20 s of an API
thread's CPU (holding the interpreter lock the other requests need) before
the 400. Counted by the comparisons made, not by a clock.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import bios_registry


class CountedName(str):
    """A name that counts how often it is compared for equality."""

    compared = 0

    def __eq__(self, other):
        CountedName.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_duplicate_names_are_found_without_comparing_every_pair():
    registry = {"ProcTurboMode": {"attribute_type": "Enumeration",
                                  "allowable_values": ["Enabled", "Disabled"]}}
    count = 3000
    settings = [{"name": CountedName("Knob%05d" % n), "value": "1"} for n in range(count)]
    settings.append({"name": CountedName("Knob00007"), "value": "2"})
    CountedName.compared = 0
    with pytest.raises(exception.InvalidParameterValue) as info:
        bios_registry.check_settings(settings, registry)
    assert "attribute Knob00007 is given 2 times" in str(info.value)
    assert CountedName.compared < 20 * count, CountedName.compared
