"""Root device hints in Ironic's full syntax, as an operator copies them from Ironic.

Ironic's numeric ``=`` means "at least" (Nova's legacy filter meaning), and
``size`` also takes ``<or>`` and ``<range-in>``; the agent read ``=`` as
equality and refused the other two ("must be a number of GiB"), so a hint
Ironic's docs give failed the deploy. ``rotational`` was read leniently:
``"t"``/``"y"`` (true for Ironic) and any typo meant "not rotational" and
chose the SSD. Ironic refuses a hint it cannot parse; so does the agent now.
"""

import pytest

from hwdrivers.agent import disk
from hwdrivers.agent import errors

GiB = disk.GiB
DISKS = [
    {"name": "sda", "size": 480 * GiB, "serial": "S1", "rota": False},
    {"name": "sdb", "size": 960 * GiB, "serial": "S2", "rota": False},
    {"name": "sdc", "size": 4000 * GiB, "serial": "S3", "rota": True},
]


@pytest.mark.parametrize("hints,name", [
    ({"size": "= 900"}, "sdb"),               # at least 900: the smallest such disk
    ({"size": "=480"}, "sda"),
    ({"size": "<or> 960 <or> 4000"}, "sdb"),
    ({"size": "<range-in> [500 4000]"}, "sdb"),
    ({"size": "<range-in> (960 4000]"}, "sdc"),  # 960 excluded
    ({"size": "<range-in> [100 960)"}, "sda"),
    ({"rotational": "t"}, "sdc"),
    ({"rotational": "y"}, "sdc"),
    ({"rotational": "off"}, "sda"),
    ({"rotational": 1}, "sdc"),
])
def test_ironic_syntax_chooses_the_disk(hints, name):
    assert disk.choose_disk(DISKS, hints)["name"] == name


@pytest.mark.parametrize("hints,words", [
    ({"rotational": "maybe"}, "'rotational' must be a boolean"),
    ({"size": 0}, "'size' must be a positive number of GiB"),
    ({"size": "<range-in> [500 100]"}, "'size' must be"),
    ({"size": True}, "'size' must be"),
    ({"serial": 12345}, "'serial' must be a non-empty string"),
    ({"model": "  "}, "'model' must be a non-empty string"),
])
def test_a_hint_ironic_cannot_parse_is_refused(hints, words):
    with pytest.raises(errors.DeviceNotFound, match=words):
        disk.choose_disk(DISKS, hints)


def test_every_problem_is_named_at_once():
    problems = disk.hint_problems({"colour": "red", "size": "big", "rotational": "?"})
    assert len(problems) == 3
    assert "colour" in problems[0]
    assert disk.hint_problems({"size": ">= 100", "serial": "s== S1"}) == []
    assert disk.hint_problems(["serial"]) == ["root device hints must be a JSON object, not list"]
