"""redfish bios: the settings PATCH asks for OnReset when the BMC offers apply times.

sushy-tools' BIOS has no ``SupportedApplyTimes`` (doc/drivers/redfish.md), so
:class:`BiosBMC` is a small Redfish service on 127.0.0.1 whose Bios resource
lists them (as iDRAC, iLO 6 and XCC do) or not, and which records the PATCH.
"""

import pytest

from tests.functional import redfish_stub

SYSTEM = "/redfish/v1/Systems/1"
BIOS = SYSTEM + "/Bios"


class BiosBMC(redfish_stub.RedfishStub):
    def __init__(self, apply_times):
        super().__init__()
        self.apply_times = apply_times

    @property
    def patches(self):
        return self.bodies("PATCH")

    def document(self, path):
        settings = {"SettingsObject": {"@odata.id": BIOS + "/Settings"}}
        if self.apply_times is not None:
            settings["SupportedApplyTimes"] = self.apply_times
        return {
            "/redfish/v1": redfish_stub.service_root(),
            "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
            SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
                     "Bios": {"@odata.id": BIOS}},
            BIOS: {"@odata.id": BIOS, "Id": "Bios", "Name": "BIOS",
                   "Attributes": {"ProcTurboMode": "Enabled"},
                   "@Redfish.Settings": settings},
            BIOS + "/Settings": {"@odata.id": BIOS + "/Settings", "Id": "Settings",
                                 "Name": "BIOS pending", "Attributes": {}},
        }.get(path)

    def PATCH(self, request):
        return 204, None


@pytest.fixture
def bios_bmc(config):
    with redfish_stub.configured(config, enabled_bios_interfaces=["redfish", "no-bios"],
                                 redfish__command_retry_timeout=0.0) as serve:
        def start(apply_times):
            server = serve(BiosBMC(apply_times))
            return redfish_stub.task(server, "Bios-Pass-4", bios_interface="redfish"), server

        yield start


@pytest.mark.parametrize("apply_times, sent", [
    (["Immediate", "OnReset", "AtMaintenanceWindowStart"], "OnReset"),
    (None, None),
    (["Immediate"], None),
])
def test_settings_are_asked_for_the_next_boot_when_the_bmc_offers_it(bios_bmc, apply_times,
                                                                     sent):
    task, bmc = bios_bmc(apply_times)
    assert task.driver.bios._patch(task, [{"name": "ProcTurboMode", "value": "Disabled"}]) \
        == {"ProcTurboMode": "Disabled"}
    [patch] = bmc.patches
    assert patch["Attributes"] == {"ProcTurboMode": "Disabled"}
    asked = patch.get("@Redfish.SettingsApplyTime")
    assert (asked and asked["ApplyTime"]) == sent
