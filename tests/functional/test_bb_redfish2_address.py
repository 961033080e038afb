"""redfish_address with a path that is not the service root, against sushy-tools' emulator.

A common slip is to give the system's URL (``https://bmc/redfish/v1/Systems/1``)
as the address. sushy reads the service root before it logs in, and the BMC
answers an anonymous GET of any other resource with 401 (or 404): the
error must point at redfish_address, not at the credentials, which are right.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from tests.functional import redfish_stub


@pytest.fixture(autouse=True)
def redfish_config(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=1.0,
                                 redfish__connect_timeout=1.0):
        yield config


@pytest.mark.parametrize("path, status", [("/redfish/v1/Systems/{uuid}", 401),
                                          ("/redfish", 404)])
def test_an_address_past_the_service_root_names_redfish_address(redfish_emulator, path,
                                                                status):
    address = redfish_emulator.url + path.format(uuid=redfish_emulator.uuid("sys-a"))
    task = StandaloneTask.for_driver("redfish", redfish_emulator.driver_info(
        "sys-a", redfish_address=address), name="addr")
    with pytest.raises(exception.DriverSettingsError) as info:
        actions.get_power_state(task)
    message = str(info.value)
    assert "has no Redfish service root at %s/ (HTTP %d" % (
        path.format(uuid=redfish_emulator.uuid("sys-a")), status) in message
    assert "set redfish_address to the BMC's https://host[:port]" in message
    assert "check redfish_username" not in message and "attempts" not in message


def test_a_wrong_password_is_still_the_credentials(redfish_emulator):
    task = StandaloneTask.for_driver("redfish", redfish_emulator.driver_info(
        "sys-a", redfish_password="Not-The-Password-1"), name="addr")
    with pytest.raises(exception.DriverAuthError, match="check redfish_username and "
                                                        "redfish_password"):
        actions.get_power_state(task)
