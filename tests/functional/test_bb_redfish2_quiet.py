"""redfish against a BMC that publishes no @Redfish.AllowableValues (they are optional).

sushy logs a warning each time such a system's allowed reset types or boot
sources are read. :class:`PlainBMC` is a small Redfish service on 127.0.0.1
whose system lists neither (sushy-tools' emulator lists both): polling its
power state -- what the conductor does for every node, every minute -- must
not log them.
"""

import logging

import pytest

from hwdrivers.drivers import actions
from tests.functional import redfish_stub

SYSTEM = "/redfish/v1/Systems/1"
RESET = SYSTEM + "/Actions/ComputerSystem.Reset"


class PlainBMC(redfish_stub.RedfishStub):
    documents = {
        "/redfish/v1": redfish_stub.service_root(),
        "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
        SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
                 "Boot": {"BootSourceOverrideEnabled": "Disabled",
                          "BootSourceOverrideTarget": "None"},
                 "Actions": {"#ComputerSystem.Reset": {"target": RESET}}},
    }

    @property
    def resets(self):
        return self.bodies("POST")

    def POST(self, request):
        return 204, None


@pytest.fixture
def plain_bmc(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=0.0) as serve:
        yield serve(PlainBMC())


def _sushy_warnings(caplog):
    return [r for r in caplog.records
            if r.name.startswith("sushy") and r.levelno >= logging.WARNING]


def test_polling_the_power_state_logs_no_warning(plain_bmc, caplog):
    task = redfish_stub.task(plain_bmc, "Plain-Pass-6", name="plain")
    caplog.set_level(logging.WARNING)
    for _ in range(5):
        assert actions.get_power_state(task) == "power on"
    assert task.driver.management.get_boot_device(task)["boot_device"] is None
    assert _sushy_warnings(caplog) == []
    # An action still checks what the system allows (here: anything, said once).
    actions.set_power_state(task, "rebooting")
    assert plain_bmc.resets == [{"ResetType": "ForceRestart"}]
