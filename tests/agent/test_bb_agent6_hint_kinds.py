"""IPA's ``by_path`` and ``tran`` root device hints.

Ironic accepts them on a node (its list of valid hints), and IPA matches
them; the agent refused the deploy with "unknown root device hint(s)
by_path". ``by_path`` names the disk by its bus address, the one hint
that tells identical disks apart; ``tran`` by transport (sata, nvme,
usb: "not the USB stick").
"""

import json
import os

import pytest

from hwdrivers.agent import disk
from hwdrivers.agent import errors

GiB = disk.GiB
DISKS = [
    {"name": "sda", "size": 480 * GiB, "tran": "sata", "rota": False},
    {"name": "sdb", "size": 480 * GiB, "tran": "sata", "rota": False},
    {"name": "nvme0n1", "size": 960 * GiB, "tran": "nvme", "rota": False},
    {"name": "sdc", "size": 16 * GiB, "tran": "usb", "rota": False},
]


LSBLK = {"blockdevices": [dict(d, type="disk") for d in DISKS]}


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """This machine's lsblk (a script first on PATH) and /dev/disk/by-path links."""
    links = tmp_path / "dev" / "disk" / "by-path"
    links.mkdir(parents=True)
    for name, target in [("pci-0000:00:1f.2-ata-1", "sda"), ("pci-0000:00:1f.2-ata-2", "sdb"),
                         ("pci-0000:00:1f.2-ata-2-part1", "sdb1")]:
        os.symlink("../../" + target, links / name)
    monkeypatch.setattr(disk, "BY_PATH_DIR", str(links))
    (tmp_path / "lsblk.json").write_text(json.dumps(LSBLK))
    script = tmp_path / "bin" / "lsblk"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\ncat %s\n" % (tmp_path / "lsblk.json"))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (script.parent, os.pathsep, os.environ["PATH"]))
    return links


def test_by_path_tells_identical_disks_apart(machine):
    disks = disk.list_disks()
    assert [d["by_path"] for d in disks] == [
        [str(machine / "pci-0000:00:1f.2-ata-1")], [str(machine / "pci-0000:00:1f.2-ata-2")],
        [], []]
    chosen = disk.choose_disk(disks, {"by_path": str(machine / "pci-0000:00:1f.2-ata-2")})
    assert chosen["name"] == "sdb"
    # the link's name alone, as some operators write it
    assert disk.choose_disk(disks, {"by_path": "pci-0000:00:1f.2-ata-1"})["name"] == "sda"
    with pytest.raises(errors.DeviceNotFound, match="no disk matches"):
        disk.choose_disk(disks, {"by_path": "pci-0000:00:1f.2-ata-2-part1"})  # a partition


def test_a_disk_record_without_links_matches_no_by_path_hint():
    """The conductor's inspection matches inventory records, which carry none."""
    with pytest.raises(errors.DeviceNotFound, match="no disk matches"):
        disk.choose_disk(DISKS, {"by_path": "/dev/disk/by-path/pci-0000:00:1f.2-ata-1"})


@pytest.mark.parametrize("hints, name", [
    ({"tran": "nvme"}, "nvme0n1"),
    ({"tran": "usb"}, "sdc"),
    ({"tran": "s!= usb", "size": "< 900"}, "sda"),
], ids=["nvme", "usb", "not-usb"])
def test_tran_chooses_by_transport(hints, name):
    assert disk.choose_disk(DISKS, hints)["name"] == name


def test_lsblk_reports_the_transport():
    listed = disk.parse_lsblk('{"blockdevices": [{"name": "nvme0n1", "size": 1024, '
                              '"type": "disk", "tran": "nvme", "rota": false}]}')
    assert listed[0]["tran"] == "nvme"
