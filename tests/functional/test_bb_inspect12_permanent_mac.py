"""redfish inspection of a NIC whose MACAddress is not usable but whose
PermanentMACAddress is.

BMCs report ``MACAddress`` as ``"Not Available"`` or all zeros for a port
that is disabled or not configured yet, with the burned-in address in
``PermanentMACAddress``. The unusable one was reported, so the conductor
left the NIC out (no port): a machine enrolled by its BMC only got no port
for it. Now the permanent address is reported. :class:`NicBMC` is a small
Redfish service on 127.0.0.1 (tests/functional/redfish_stub.py).
"""

import pytest

from hwdrivers.conductor import inspection
from tests.functional import redfish_stub

SYSTEM = "/redfish/v1/Systems/1"
NICS = SYSTEM + "/EthernetInterfaces"


class NicBMC(redfish_stub.RedfishStub):
    """One system with four NICs, their MACAddress / PermanentMACAddress as given."""

    def __init__(self, nics):
        super().__init__()
        self.documents = {
            "/redfish/v1": redfish_stub.service_root(),
            "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
            SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "Off",
                     "MemorySummary": {"TotalSystemMemoryGiB": 16},
                     "ProcessorSummary": {"Count": 4},
                     "EthernetInterfaces": {"@odata.id": NICS}},
            NICS: {"@odata.id": NICS, "Members": [
                {"@odata.id": "%s/%s" % (NICS, name)} for name in nics]},
        }
        for name, fields in nics.items():
            self.documents["%s/%s" % (NICS, name)] = dict(
                {"@odata.id": "%s/%s" % (NICS, name), "Id": name}, **fields)


@pytest.fixture
def bmc(config):
    with redfish_stub.configured(config, enabled_inspect_interfaces=["redfish", "no-inspect"],
                                 redfish__command_retry_timeout=0.0) as serve:
        def start(nics):
            server = serve(NicBMC(nics))
            return redfish_stub.task(server, "Insp-12-Mac", inspect_interface="redfish")
        yield start


def test_the_permanent_mac_stands_in_for_an_unusable_one(bmc):
    task = bmc({
        "na": {"MACAddress": "Not Available", "PermanentMACAddress": "52:54:00:12:00:01"},
        "zero": {"MACAddress": "00:00:00:00:00:00",
                 "PermanentMACAddress": "52-54-00-12-00-0A"},
        "both": {"MACAddress": "52:54:00:12:00:03", "PermanentMACAddress": "52:54:00:12:00:33"},
        "none": {"MACAddress": "Not Available"},
    })
    inventory = task.driver.inspect.inspect_hardware(task)["inventory"]
    assert inventory["interfaces"] == [
        {"name": "na", "mac_address": "52:54:00:12:00:01"},
        {"name": "zero", "mac_address": "52:54:00:12:00:0a"},
        {"name": "both", "mac_address": "52:54:00:12:00:03"},
        # nothing better to report: kept as reported, the conductor gives it no port
        {"name": "none", "mac_address": "not available"},
    ]
    assert inspection._macs(inventory) == [
        "52:54:00:12:00:01", "52:54:00:12:00:0a", "52:54:00:12:00:03"]
