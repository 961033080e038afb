"""In-band inspection data, posted as a ramdisk posts it, against the real API and conductor.

The node's inspect interface (fake-hardware's) is made to wait in ``inspect
wait`` as the ``agent`` interface does; the test then posts to ``POST
/v1/continue_inspection`` what a buggy or hostile ramdisk could send, and
reads back what the node got. The processing runs in the conductor's
worker pool, so each test waits for the node to leave ``inspect wait``.
"""

import pytest

from hwdrivers.drivers.modules import fake
from tests.api.conftest import row
from tests.waits import wait_for

GiB = 1024 ** 3
MAC = "52:54:00:2b:00:01"
NICS = [{"name": "eth0", "mac_address": MAC}]
GOOD = {"interfaces": NICS, "cpu": {"count": 8, "architecture": "x86_64"},
        "memory": {"physical_mb": 4096},
        "disks": [{"name": "/dev/sda", "size": 100 * GiB}]}


@pytest.fixture
def waiting(api, make_node, monkeypatch):
    """A manageable node with a port; ``waiting()`` starts an inspection that waits."""
    monkeypatch.setattr(fake.FakeInspect, "inspect_hardware", lambda self, task: "inspect wait")
    node = make_node("bb-insp")
    resp = api.post("/v1/ports", {"address": MAC, "node_uuid": node["uuid"]})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    api.put("/v1/nodes/bb-insp/states/provision", {"target": "manage"})
    wait_for(lambda: row("bb-insp")["provision_state"] == "manageable", message="manageable")

    def start():
        resp = api.put("/v1/nodes/bb-insp/states/provision", {"target": "inspect"})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        wait_for(lambda: row("bb-insp")["provision_state"] == "inspect wait",
                 message="inspect wait")
    return start


def _inspect(api, waiting, body):
    """One in-band inspection with ``body`` posted; the node's row once it is done."""
    waiting()
    resp = api.post("/v1/continue_inspection", body)
    assert resp.status_code == 202, resp.get_data(as_text=True)
    return wait_for(lambda: (lambda r: r["provision_state"] != "inspect wait"
                             and r["provision_state"] != "inspecting" and r)(row("bb-insp")),
                    message="the inspection to end")


@pytest.mark.parametrize("part, field", [
    ({"cpu": {"count": -4, "architecture": "x86_64"}}, "cpu.count"),
    ({"cpu": {"count": "0"}}, "cpu.count"),
    ({"cpu": {"count": 2.5}}, "cpu.count"),
    ({"memory": {"physical_mb": -1}}, "memory.physical_mb"),
    ({"memory": {"physical_mb": 1.5e300}}, "memory.physical_mb"),
    ({"memory": {"total": 1000}}, "memory.total"),
    ({"disks": [{"name": "/dev/sda", "size": 10 ** 30}]}, "disks[0].size"),
    ({"disks": [{"name": "/dev/sda", "size": -GiB}]}, "disks[0].size"),
    ({"cpu": {"count": 8, "architecture": {"x": 1}}}, "cpu.architecture"),
    ({"cpu": {"count": 8, "architecture": ["x86_64"]}}, "cpu.architecture"),
])
def test_impossible_values_fail_the_inspection_naming_the_field(api, waiting, part, field):
    """Negative counts, absurd sizes and a non-string architecture are refused.

    They were written to the node's properties as sent (``cpus: -4``,
    ``cpu_arch: {"x": 1}``, a 22-digit ``local_gb``).
    """
    first = _inspect(api, waiting, {"inventory": GOOD})
    assert first["provision_state"] == "manageable", first["last_error"]
    before = first["properties"]

    node = _inspect(api, waiting, {"inventory": dict(GOOD, **part)})
    assert node["provision_state"] == "inspect failed"
    assert field in node["last_error"], node["last_error"]
    assert node["properties"] == before  # nothing changed


def test_disks_that_are_empty_or_zero_sized_are_fine(api, waiting):
    """A card reader without a card is a 0-byte disk: not an error, not the root disk."""
    node = _inspect(api, waiting, {"inventory": dict(GOOD, disks=[
        {"name": "/dev/sdb", "size": 0}, {"name": "/dev/sda", "size": 20 * GiB}])})
    assert node["provision_state"] == "manageable", node["last_error"]
    assert node["properties"]["local_gb"] == 19


def test_a_machine_reinspected_without_disks_has_local_gb_0(api, waiting):
    """Its disks pulled, a machine kept the old local_gb, and flavors still matched it."""
    node = _inspect(api, waiting, {"inventory": GOOD})
    assert node["properties"]["local_gb"] == 99
    for disks in ([], [{"name": "/dev/sdz", "size": 2 * GiB}]):  # none; a USB stick only
        node = _inspect(api, waiting, {"inventory": dict(GOOD, disks=disks)})
        assert node["provision_state"] == "manageable", node["last_error"]
        assert node["properties"]["local_gb"] == 0, disks
    # an inventory that does not report disks at all says nothing about them
    node = _inspect(api, waiting, {"inventory": dict(GOOD, disks=[
        {"name": "/dev/sda", "size": 100 * GiB}])})
    node = _inspect(api, waiting, {"inventory": {"interfaces": NICS}})
    assert node["properties"]["local_gb"] == 99


def test_the_ramdisks_logs_are_not_stored_or_served(api, waiting):
    """IPA's ``logs`` collector sends its journal; GET .../inventory served it to any reader."""
    node = _inspect(api, waiting, {"inventory": GOOD, "logs": "H4sIAAAA" + "A" * 5000,
                                   "root_disk": GOOD["disks"][0], "error": None})
    assert node["provision_state"] == "manageable", node["last_error"]
    resp = api.get("/v1/nodes/bb-insp/inventory")
    assert resp.status_code == 200
    stored = resp.get_json()
    assert "logs" not in stored["plugin_data"]
    assert stored["plugin_data"]["root_disk"] == GOOD["disks"][0]


DISKS = [{"name": "/dev/sda", "size": 64 * GiB, "serial": "SSD-BOOT", "rotational": False},
         {"name": "/dev/sdb", "size": 2000 * GiB, "serial": "RAID-1", "wwn": "0x5000c5",
          "rotational": True},
         {"name": "/dev/sdc", "size": 4000 * GiB, "serial": "RAID-2", "rotational": True}]


@pytest.mark.parametrize("hints, local_gb", [
    ({"serial": "raid-1"}, 1999),           # the disk the deploy writes to
    ({"name": "/dev/sdc"}, 3999),
    ({"name": "sdb"}, 1999),
    ({"wwn": "0x5000c5", "rotational": True}, 1999),
    ({"rotational": True}, 1999),           # the smallest of the matches, as the agent
    ({"size": ">= 3000"}, 3999),
    ({"serial": "no-such-disk"}, 63),       # matches nothing: the default rule, warned
    ({"size": "big"}, 63),                  # not a hint the agent can use either
    ("sdb", 63),                            # not an object of hints
])
def test_local_gb_follows_the_root_device_hints(api, waiting, hints, local_gb):
    """local_gb is the size of the disk the deploy will write to, as Ironic's root device hook.

    It was always the smallest disk of at least 4 GiB: a node whose hints name
    its RAID volume next to a 64 GiB boot SSD was a 63 GB machine to the
    scheduler.
    """
    resp = api.patch("/v1/nodes/bb-insp", [
        {"op": "add", "path": "/properties/root_device", "value": hints}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    node = _inspect(api, waiting, {"inventory": dict(GOOD, disks=DISKS)})
    assert node["provision_state"] == "manageable", node["last_error"]
    assert node["properties"]["local_gb"] == local_gb
    assert node["properties"]["root_device"] == hints  # the operator's, untouched


def test_a_hinted_disk_under_1_gib_gives_local_gb_0(api, waiting):
    api.patch("/v1/nodes/bb-insp", [{"op": "add", "path": "/properties/root_device",
                                     "value": {"name": "/dev/sdz"}}])
    node = _inspect(api, waiting, {"inventory": dict(GOOD, disks=DISKS + [
        {"name": "/dev/sdz", "size": 512 * 1024 ** 2}])})
    assert node["properties"]["local_gb"] == 0


def test_the_ramdisks_error_is_quoted_short_in_last_error(api, waiting):
    """A 900 KB ``error`` went whole into last_error, and into every listing showing it."""
    node = _inspect(api, waiting, {"inventory": GOOD, "error": "disks: " + "e" * 900000})
    assert node["provision_state"] == "inspect failed"
    assert "the ramdisk reported: disks: eee" in node["last_error"]
    assert node["last_error"].endswith("... (899007 more characters)"), node["last_error"][-80:]
    assert len(node["last_error"]) < 1200
