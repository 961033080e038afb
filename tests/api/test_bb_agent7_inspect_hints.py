"""Inspection's local_gb follows ``tran`` and ``by_path`` root device hints too.

The agent matches those two hints on the machine (lsblk's TRAN, the
/dev/disk/by-path links); inspection reads the same matchers against the
inventory, whose disks carry ``tran`` and ``by_path`` as IPA reports them.
They were not passed on: such hints matched no disk, the node got a note
and the local_gb of the smallest disk, not of the one the deploy writes to.
"""

import pytest

from hwdrivers.drivers.modules import fake
from tests.api.conftest import row
from tests.waits import wait_for

GiB = 1024 ** 3
MAC = "52:54:00:7b:00:01"
DISKS = [{"name": "/dev/sda", "size": 64 * GiB, "serial": "BOOT", "rotational": False,
          "tran": "sata", "by_path": "/dev/disk/by-path/pci-0000:00:17.0-ata-1"},
         {"name": "/dev/nvme0n1", "size": 2000 * GiB, "serial": "DATA", "rotational": False,
          "tran": "nvme", "by_path": "/dev/disk/by-path/pci-0000:3b:00.0-nvme-1"},
         {"name": "/dev/sdb", "size": 4000 * GiB, "serial": "OLD", "rotational": True}]
INVENTORY = {"interfaces": [{"name": "eth0", "mac_address": MAC}],
             "cpu": {"count": 8, "architecture": "x86_64"}, "memory": {"physical_mb": 4096},
             "disks": DISKS}


@pytest.fixture
def inspected(api, make_node, monkeypatch):
    """``inspected(hints)``: the node's row after an in-band inspection with those hints."""
    monkeypatch.setattr(fake.FakeInspect, "inspect_hardware", lambda self, task: "inspect wait")
    node = make_node("bb7-insp")
    assert api.post("/v1/ports", {"address": MAC, "node_uuid": node["uuid"]}).status_code == 201
    api.put("/v1/nodes/bb7-insp/states/provision", {"target": "manage"})
    wait_for(lambda: row("bb7-insp")["provision_state"] == "manageable", message="manageable")

    def inspect(hints):
        resp = api.patch("/v1/nodes/bb7-insp", [
            {"op": "add", "path": "/properties/root_device", "value": hints}])
        assert resp.status_code == 200, resp.get_data(as_text=True)
        resp = api.put("/v1/nodes/bb7-insp/states/provision", {"target": "inspect"})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        wait_for(lambda: row("bb7-insp")["provision_state"] == "inspect wait",
                 message="inspect wait")
        resp = api.post("/v1/continue_inspection", {"inventory": INVENTORY})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        return wait_for(lambda: (lambda r: r["provision_state"] == "manageable" and r)(
            row("bb7-insp")), message="the inspection to end")
    return inspect


@pytest.mark.parametrize("hints, local_gb", [
    ({"tran": "nvme"}, 1999),
    ({"tran": "<in> sat"}, 63),
    ({"by_path": "/dev/disk/by-path/pci-0000:3b:00.0-nvme-1"}, 1999),
    ({"by_path": "pci-0000:3b:00.0-nvme-1"}, 1999),      # the link's name, as the agent
    ({"tran": "usb"}, 63),                               # matches nothing: the default rule
])
def test_tran_and_by_path_hints_choose_the_disk(inspected, hints, local_gb):
    node = inspected(hints)
    assert node["properties"]["local_gb"] == local_gb
    assert node["properties"]["root_device"] == hints
