"""Root-device hints written as an Ironic operator would, against an lsblk listing."""

import pytest

from hwdrivers.agent import disk

GiB = disk.GiB
DISKS = [
    {"name": "sda", "size": 480 * GiB, "serial": "S1", "wwn": "0x5000c500a1b2c3d4",
     "model": "PERC H730 Mini", "vendor": "DELL", "hctl": "0:0:0:0", "rota": False},
    {"name": "sdb", "size": 2000 * GiB, "serial": "S2", "wwn": "0x5000c500deadbeef",
     "model": "ST2000NM", "vendor": "ATA", "hctl": "1:0:0:0", "rota": True},
]


@pytest.mark.parametrize("hints,name", [
    ({"model": "<in> PERC"}, "sda"),
    ({"serial": "s== S2"}, "sdb"),
    ({"serial": "s!= S2"}, "sda"),
    ({"vendor": "<or> HP <or> ata"}, "sdb"),
    ({"model": "st2000nm"}, "sdb"),
    ({"model": "<in> st", "size": ">= 1000"}, "sdb"),
])
def test_ironic_string_operators_choose_the_disk(hints, name):
    assert disk.choose_disk(DISKS, hints)["name"] == name

