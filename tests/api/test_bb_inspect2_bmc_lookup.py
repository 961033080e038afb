"""Inspection data for a node with no port yet is found by the BMC address it reports.

The classic flow: enroll a machine with its BMC only and let inspection
create its ports. ironic-python-agent posts no ``node_uuid`` and only MACs
no port has; Ironic finds the node by ``inventory.bmc_address`` (the
``*_address`` fields of its driver_info). hwdrivers answered 404 and the
node waited out ``[deploy] callback_timeout``.
"""

import pytest

from hwdrivers.conductor import inspection
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake
from tests.api.conftest import error_of
from tests.api.conftest import row
from tests.waits import wait_for

NICS = [{"name": "eno1", "mac_address": "52:54:00:5e:00:01"},
        {"name": "eno2", "mac_address": "52:54:00:5e:00:02"}]


@pytest.fixture
def portless(api, make_node, monkeypatch):
    """``portless(name, bmc)``: a node without ports, its BMC at ``bmc``, in inspect wait."""
    monkeypatch.setattr(fake.FakeInspect, "inspect_hardware", lambda self, task: "inspect wait")

    def make(name, bmc, field="fake_address"):
        make_node(name, driver_info={"fake_username": "admin", "fake_password": "s3cret",
                                     field: bmc})
        api.put("/v1/nodes/%s/states/provision" % name, {"target": "manage"})
        wait_for(lambda: row(name)["provision_state"] == "manageable", message="manageable")
        assert api.put("/v1/nodes/%s/states/provision" % name,
                       {"target": "inspect"}).status_code == 202
        wait_for(lambda: row(name)["provision_state"] == "inspect wait", message="inspect wait")
    return make


@pytest.mark.parametrize("field, bmc, reported", [
    ("fake_address", "10.20.30.40", {"bmc_address": "10.20.30.40"}),
    ("fake_address", "fd00::0a", {"bmc_address": "0.0.0.0", "bmc_v6address": "fd00::a"}),
])
def test_a_portless_node_is_found_by_its_bmc_address(api, portless, field, bmc, reported):
    portless("bare", bmc, field)
    resp = api.post("/v1/continue_inspection", {"inventory": dict(
        reported, interfaces=NICS, cpu={"count": 16, "architecture": "x86_64"})})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    node = wait_for(lambda: (lambda r: r["provision_state"] == "manageable" and r)(row("bare")),
                    message="the inspection to end")
    assert node["properties"]["cpus"] == 16
    assert sorted(p["address"] for p in db_api.list_ports(node_id=node["id"])) == [
        n["mac_address"] for n in NICS]


def test_an_unknown_or_shared_bmc_address_finds_no_node(api, portless, caplog):
    portless("one", "10.20.30.41")
    portless("two", "10.20.30.41")  # two nodes behind one BMC address (IPMI bridging)
    body = {"inventory": {"interfaces": NICS, "bmc_address": "10.20.30.41"}}
    with caplog.at_level("WARNING", logger="hwdrivers.api.ramdisk"):
        resp = api.post("/v1/continue_inspection", body)
    assert resp.status_code == 404
    assert "nodes one, two all have it" in caplog.text  # the caller is not told which
    assert "one" not in error_of(resp).replace("No node", "")
    for unknown in ("10.20.30.99", "0.0.0.0", "127.0.0.1"):
        resp = api.post("/v1/continue_inspection", {"inventory": {
            "interfaces": NICS, "bmc_address": unknown}})
        assert resp.status_code == 404, unknown
    assert row("one")["provision_state"] == row("two")["provision_state"] == "inspect wait"


@pytest.mark.parametrize("written, ip", [
    ("https://10.20.30.40:8443/redfish/v1", "10.20.30.40"),  # redfish_address
    ("http://[fd00::0a]:8000", "fd00::a"),
    ("[FD00::A]", "fd00::a"),
    (" 10.0.0.1 ", "10.0.0.1"),
    ("bmc1.example.com", None),  # a host name is not resolved for the lookup
    ("0.0.0.0", None), ("::", None), ("127.0.0.1", None), (None, None), (5, None),
])
def test_bmc_addresses_as_driver_info_writes_them(written, ip):
    assert inspection._bmc_ip(written) == ip
