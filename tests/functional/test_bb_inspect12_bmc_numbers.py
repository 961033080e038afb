"""An impossible number from a BMC fails redfish inspection naming the BMC, not a ramdisk.

Out-of-band inspection boots no ramdisk, yet a BMC reporting negative memory
(``TotalSystemMemoryGiB: -4``, a firmware bug) failed the inspection with
"...: the ramdisk reports hardware no machine has": the operator was sent
looking for a ramdisk that never ran. The real ``hwdrivers-server`` against
:class:`NegativeBMC`, a small Redfish service on 127.0.0.1
(tests/functional/redfish_stub.py).
"""

import pytest

from tests.functional import redfish_stub
from tests.functional import server_proc
from tests.functional.test_inspect_redfish import _ok
from tests.functional.test_inspect_redfish import _provision
from tests.functional.test_inspect_redfish import _settle

SYSTEM = "/redfish/v1/Systems/1"


class NegativeBMC(redfish_stub.RedfishStub):
    """One powered-off system reporting -4 GiB of memory and one NIC."""

    documents = {
        "/redfish/v1": redfish_stub.service_root(),
        "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
        SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "Off",
                 "MemorySummary": {"TotalSystemMemoryGiB": -4},
                 "ProcessorSummary": {"Count": 4},
                 "EthernetInterfaces": {"@odata.id": SYSTEM + "/EthernetInterfaces"}},
        SYSTEM + "/EthernetInterfaces": {
            "@odata.id": SYSTEM + "/EthernetInterfaces",
            "Members": [{"@odata.id": SYSTEM + "/EthernetInterfaces/nic0"}]},
        SYSTEM + "/EthernetInterfaces/nic0": {
            "@odata.id": SYSTEM + "/EthernetInterfaces/nic0", "Id": "nic0",
            "MACAddress": "52:54:00:12:01:01"},
    }


@pytest.fixture
def bmc():
    stub = NegativeBMC().start()
    yield stub
    stub.close()


@pytest.fixture
def server(tmp_path):
    with server_proc.running(tmp_path, name="bb-inspect12",
                             options={"redfish": {"command_retry_timeout": 1,
                                                  "connect_timeout": 2}}) as proc:
        yield proc


def test_negative_memory_from_the_bmc_names_the_bmc(server, bmc):
    _ok(server.call("POST", "/v1/nodes", {
        "name": "neg-mem", "driver": "redfish", "inspect_interface": "redfish",
        "driver_info": {"redfish_address": bmc.url, "redfish_username": "root",
                        "redfish_password": "Insp-12-Neg", "redfish_system_id": SYSTEM}}),
        201)
    _ok(_provision(server, "neg-mem", "manage"), 202)
    assert _settle(server, "neg-mem", timeout=20)["provision_state"] == "manageable"
    _ok(_provision(server, "neg-mem", "inspect"), 202)
    node = _settle(server, "neg-mem", timeout=20)
    assert node["provision_state"] == "inspect failed"
    error = node["last_error"]
    assert "memory.physical_mb is -4096" in error, error
    assert "ramdisk reports" not in error and "BMC" in error, error
    assert "memory_mb" not in node["properties"]
    assert _ok(server.call("GET", "/v1/ports?node=neg-mem"))["ports"] == []
