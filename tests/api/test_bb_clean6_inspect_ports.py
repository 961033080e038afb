"""Which ports an inspection creates and keeps, and their pxe_enabled, as Ironic's.

Inspection made a port of every MAC the inventory listed (a BMC's USB NIC,
a storage network's, ``lo``...) and left every port ``pxe_enabled`` as it
was, so the iPXE boot interface wrote boot scripts for NICs that never
network-boot. As Ironic's ``ports`` hook: ``[inspector] add_ports``
(default ``pxe``: only the NIC the machine booted from, ``boot.pxe_interface``;
``all``, ``active`` with an IP, ``disabled``), ``keep_ports`` (default
``all``; ``present``, ``added``) and ``update_pxe_enabled`` (default true:
the booting NIC's port true, the others false).

In-band inspection data is posted as a ramdisk posts it, against the real
API and conductor (its worker pool), as tests/api/test_bb_inspect2_values.py.
"""

import pytest

from hwdrivers.drivers.modules import fake
from tests.api.conftest import row
from tests.waits import wait_for

PXE = "52:54:00:6c:00:01"
DATA = "52:54:00:6c:00:02"
IDLE = "52:54:00:6c:00:03"
ENROLLED = "52:54:00:6c:00:09"  # enrolled by the operator, not in the inventory
NICS = [{"name": "lo", "mac_address": "00:00:00:00:00:00", "ipv4_address": "127.0.0.1"},
        {"name": "eth0", "mac_address": PXE.upper(), "ipv4_address": "10.0.0.5"},
        {"name": "eth1", "mac_address": DATA, "ipv6_address": "fd00::5%eth1"},
        {"name": "eth2", "mac_address": IDLE}]


def _inventory(pxe_interface=PXE):
    return {"interfaces": NICS, "cpu": {"count": 8, "architecture": "x86_64"},
            "boot": {"current_boot_mode": "uefi", "pxe_interface": pxe_interface}}


@pytest.fixture
def inspect(api, make_node, monkeypatch):
    """``inspect(inventory)``: a node with port ENROLLED inspected in band; its ports."""
    monkeypatch.setattr(fake.FakeInspect, "inspect_hardware", lambda self, task: "inspect wait")
    uuid = make_node("bb-ports")["uuid"]
    resp = api.post("/v1/ports", {"address": ENROLLED, "node_uuid": uuid})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    api.put("/v1/nodes/bb-ports/states/provision", {"target": "manage"})
    wait_for(lambda: row("bb-ports")["provision_state"] == "manageable", message="manageable")

    def run(inventory):
        resp = api.put("/v1/nodes/bb-ports/states/provision", {"target": "inspect"})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        wait_for(lambda: row("bb-ports")["provision_state"] == "inspect wait",
                 message="inspect wait")
        # by node_uuid (as the agent's boot script has it): ENROLLED is not listed
        resp = api.post("/v1/continue_inspection?node_uuid=%s" % uuid, {"inventory": inventory})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        node = wait_for(lambda: (lambda r: r["provision_state"] not in (
            "inspect wait", "inspecting") and r)(row("bb-ports")), message="inspected")
        assert node["provision_state"] == "manageable", node["last_error"]
        ports = api.get("/v1/ports/detail?node=bb-ports").get_json()["ports"]
        return {p["address"]: p["pxe_enabled"] for p in ports}
    return run


def test_by_default_only_the_booting_nic_gets_a_port_and_pxe_follows_it(inspect):
    assert inspect(_inventory()) == {ENROLLED: False, PXE: True}


def test_the_pxelinux_form_of_the_booting_nic_is_understood(inspect):
    assert inspect(_inventory("01-" + PXE.replace(":", "-"))) == {ENROLLED: False, PXE: True}


def test_without_a_booting_nic_every_nic_gets_a_port_and_pxe_enabled_stays(inspect):
    """Out of band (no boot.pxe_interface): as Ironic's pxe falls back to all."""
    assert inspect(_inventory(None)) == {ENROLLED: True, PXE: True, DATA: True, IDLE: True}


@pytest.mark.parametrize("add_ports,created", [
    ("all", [PXE, DATA, IDLE]), ("active", [PXE, DATA]), ("disabled", [])])
def test_add_ports(inspect, config, add_ports, created):
    config(inspector__add_ports=add_ports)
    ports = inspect(_inventory())
    assert sorted(ports) == sorted([ENROLLED] + created)  # never lo
    assert ports[ENROLLED] is False and all(ports[m] is (m == PXE) for m in created)


@pytest.mark.parametrize("keep_ports,kept", [
    ("all", [ENROLLED, PXE]), ("present", [PXE]), ("added", [PXE])])
def test_keep_ports(inspect, config, keep_ports, kept):
    config(inspector__keep_ports=keep_ports)
    assert sorted(inspect(_inventory())) == sorted(kept)


def test_keep_ports_present_keeps_a_listed_nic_add_ports_did_not_add(inspect, config, api):
    config(inspector__add_ports="all")
    inspect(_inventory())
    config(inspector__add_ports="pxe", inspector__keep_ports="present")
    assert sorted(inspect(_inventory())) == sorted([PXE, DATA, IDLE])
    config(inspector__keep_ports="added")
    assert inspect(_inventory()) == {PXE: True}


def test_an_inventory_without_macs_deletes_no_port(inspect, config):
    config(inspector__keep_ports="present")
    unreadable = [{"name": "eth0", "mac_address": "Not Available"}]
    assert inspect({"interfaces": unreadable, "cpu": {"count": 8, "architecture": "x86_64"}}
                   ) == {ENROLLED: True}


def test_update_pxe_enabled_false_leaves_pxe_enabled_alone(inspect, config):
    config(inspector__update_pxe_enabled=False)
    assert inspect(_inventory()) == {ENROLLED: True, PXE: True}
