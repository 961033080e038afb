"""redfish inspection of a BMC whose storage answers badly: the rest still counts.

A ``Storage`` resource may link a Drive the BMC then answers 404 for (an
empty bay, a drive pulled since) or answer 500 itself (a RAID controller
whose firmware is busy). Either failed the whole inspection, CPUs, memory
and NICs read for nothing, where Ironic logs it and goes on without storage
information. Now the drive (or the storage) is left out and named in
``plugin_data["not_reported"]``; the drives that answer are kept.
:class:`StorageBMC` is a small Redfish service on 127.0.0.1 with such storage.
"""

import pytest

from tests.functional import redfish_stub

SYSTEM = "/redfish/v1/Systems/1"
STORAGE = SYSTEM + "/Storage"
GiB = 1024 ** 3


class StorageBMC(redfish_stub.RedfishStub):
    """One system: a NIC, 32 GiB, and storage 1 linking drive d0 (answers) and d1 (404)."""

    def __init__(self, storage_status=200):
        super().__init__()
        self.storage_status = storage_status
        self.documents = {
            "/redfish/v1": redfish_stub.service_root(),
            "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
            SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "Off",
                     "MemorySummary": {"TotalSystemMemoryGiB": 32},
                     "ProcessorSummary": {"Count": 8},
                     "EthernetInterfaces": {"@odata.id": SYSTEM + "/EthernetInterfaces"},
                     "Storage": {"@odata.id": STORAGE}},
            SYSTEM + "/EthernetInterfaces": {
                "@odata.id": SYSTEM + "/EthernetInterfaces",
                "Members": [{"@odata.id": SYSTEM + "/EthernetInterfaces/nic0"}]},
            SYSTEM + "/EthernetInterfaces/nic0": {
                "@odata.id": SYSTEM + "/EthernetInterfaces/nic0", "Id": "nic0",
                "MACAddress": "52:54:00:99:00:01"},
            STORAGE: {"@odata.id": STORAGE, "Members": [{"@odata.id": STORAGE + "/1"}]},
            STORAGE + "/1": {"@odata.id": STORAGE + "/1", "Id": "1", "Drives": [
                {"@odata.id": STORAGE + "/1/Drives/d0"},
                {"@odata.id": STORAGE + "/1/Drives/d1"}]},
            STORAGE + "/1/Drives/d0": {"@odata.id": STORAGE + "/1/Drives/d0", "Id": "d0",
                                       "Name": "Drive d0", "CapacityBytes": 100 * GiB,
                                       "MediaType": "SSD"},
        }

    def GET(self, request):
        if request.resource == STORAGE + "/1" and self.storage_status != 200:
            return self.storage_status, {"error": {"code": "Base.1.0.GeneralError"}}
        return super().GET(request)


@pytest.fixture
def bmc(config):
    with redfish_stub.configured(config, enabled_inspect_interfaces=["redfish", "no-inspect"],
                                 redfish__command_retry_timeout=0.0) as serve:
        def start(storage_status=200):
            server = serve(StorageBMC(storage_status))
            return redfish_stub.task(server, "Insp-Pass-9", inspect_interface="redfish")
        yield start


def test_a_drive_link_the_bmc_cannot_find_is_left_out(bmc):
    task = bmc()
    result = task.driver.inspect.inspect_hardware(task)
    inventory = result["inventory"]
    assert [d["name"] for d in inventory["disks"]] == ["Drive d0"]
    assert inventory["disks"][0]["size"] == 100 * GiB
    assert inventory["interfaces"] == [{"name": "nic0", "mac_address": "52:54:00:99:00:01"}]
    assert inventory["memory"]["physical_mb"] == 32 * 1024
    assert any("Drives/d1" in item for item in result["plugin_data"]["not_reported"])


def test_storage_answering_500_costs_the_disks_only(bmc):
    task = bmc(storage_status=500)
    result = task.driver.inspect.inspect_hardware(task)
    inventory = result["inventory"]
    assert "disks" not in inventory
    assert inventory["cpu"]["count"] == 8 and inventory["memory"]["physical_mb"] == 32 * 1024
    assert inventory["interfaces"] == [{"name": "nic0", "mac_address": "52:54:00:99:00:01"}]
    assert any("Storage/1" in item for item in result["plugin_data"]["not_reported"])
