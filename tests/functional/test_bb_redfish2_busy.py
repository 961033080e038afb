"""redfish: a BMC that refuses a request only for now is asked again.

HPE iLO answers a boot device change during POST (the seconds after a
reboot, exactly when a deploy sets the boot device) with HTTP 400 and
``UnableToModifyDuringSystemPOST``; the same PATCH succeeds once POST is
over. :class:`BusyBMC` is a small Redfish service on 127.0.0.1 answering
so (sushy-tools' emulator never refuses that way), then accepting.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from tests.functional import redfish_stub

SYSTEM = "/redfish/v1/Systems/1"
#: An iLO 5's answer during POST: the id is only in the extended info.
DURING_POST = {"error": {"code": "iLO.0.10.ExtendedInfo",
                         "message": "See @Message.ExtendedInfo for more information.",
                         "@Message.ExtendedInfo": [
                             {"MessageId": "iLO.2.14.UnableToModifyDuringSystemPOST"}]}}
NOT_IN_LIST = {"error": {"code": "Base.1.8.GeneralError", "message": "bad value",
                         "@Message.ExtendedInfo": [
                             {"MessageId": "Base.1.8.PropertyValueNotInList",
                              "Message": "The value Pxe is not in the list"}]}}


class BusyBMC(redfish_stub.RedfishStub):
    """Answers each PATCH with the next of ``refusals`` (HTTP 400), then 204.

    ``patches`` counts them all, sushy's own second try without an ETag too.
    """

    documents = {
        "/redfish/v1": redfish_stub.service_root(),
        "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
        SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
                 "Boot": {"BootSourceOverrideEnabled": "Disabled",
                          "BootSourceOverrideTarget": "None",
                          "BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Hdd"]}},
    }

    def __init__(self, refusals):
        super().__init__()
        self.refusals = list(refusals)

    @property
    def patches(self):
        return len(self.bodies("PATCH"))

    def PATCH(self, request):
        if self.refusals:
            return 400, self.refusals.pop(0)
        return 204, None


@pytest.fixture
def serve(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=10.0,
                                 redfish__connect_timeout=1.0,
                                 redfish__read_timeout=5.0) as start:
        yield lambda refusals: start(BusyBMC(refusals))


def _task(server):
    return redfish_stub.task(server, "Busy-Pass-3", username="admin", name="busy")


def test_a_boot_device_refused_during_post_is_set_once_post_is_over(serve):
    bmc = serve([DURING_POST, DURING_POST])
    actions.set_boot_device(_task(bmc), "pxe", persistent=True)
    assert bmc.refusals == [] and bmc.patches >= 3  # asked until it accepted


def test_a_value_the_bmc_does_not_take_is_still_not_retried(serve):
    """Asked again, this BMC would accept: the error shows it was asked once."""
    bmc = serve([NOT_IN_LIST])
    with pytest.raises(exception.DriverUnsupportedAction, match="it was not retried"):
        actions.set_boot_device(_task(bmc), "pxe", persistent=True)
