"""A node with no redfish_username reaches its BMC anonymously, not as user "None".

sushy hands the user name and password to requests as they are, and
requests turns None into the text "None": every request of a node without
redfish_username carried ``Authorization: Basic None:None`` (a failed login
of an account named None on a BMC that counts them, and an error in
Requests 3). :class:`AnonymousBMC` is a small Redfish service recording
what each request carried.
"""

import pytest

from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from tests.functional import redfish_stub

SYSTEM = "/redfish/v1/Systems/1"


class AnonymousBMC(redfish_stub.RedfishStub):
    """Serves one system to anyone; keeps each request's Authorization header."""

    documents = {"/redfish/v1": redfish_stub.service_root(),
                 "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
                 SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On"}}

    def __init__(self):
        super().__init__()
        self.authorization = []

    def GET(self, request):
        self.authorization.append(request.headers.get("Authorization"))
        return super().GET(request)


@pytest.mark.parametrize("auth_type", ["basic", "auto"])
def test_no_user_name_sends_no_credentials(config, auth_type):
    with redfish_stub.configured(config, redfish__command_retry_timeout=0.0) as serve:
        bmc = serve(AnonymousBMC())
        task = StandaloneTask.for_driver("redfish", {
            "redfish_address": bmc.url, "redfish_auth_type": auth_type}, name="anon")
        assert actions.get_power_state(task).value == "power on"
        assert bmc.authorization and set(bmc.authorization) == {None}


def test_a_user_name_still_sends_basic_credentials(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=0.0) as serve:
        bmc = serve(AnonymousBMC())
        actions.get_power_state(redfish_stub.task(bmc, "Anon-Pass-9", username="admin"))
        assert [a for a in bmc.authorization if a] and all(
            a.startswith("Basic ") for a in bmc.authorization if a)
