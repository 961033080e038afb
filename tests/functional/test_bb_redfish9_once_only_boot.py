"""A BMC that refuses a Continuous boot override still boots the persistent device.

Continuous was dropped from Redfish and some BMCs refuse it (HTTP 400,
PropertyValueNotInList). Setting a persistent boot device -- the disk at
the end of every deploy -- failed on them for good. As Ironic does, the
device is now set once, kept in driver_internal_info ``redfish_boot_device``
(Ironic's key) and set once again before every power on and reboot; a new
boot device replaces it. :class:`OnceOnlyBMC` is a small Redfish service
answering so (sushy-tools' emulator takes Continuous).
"""

import pytest

from tests.functional import redfish_stub

SYSTEM = "/redfish/v1/Systems/1"
NOT_IN_LIST = {"error": {"code": "Base.1.8.GeneralError", "message": "bad value",
                         "@Message.ExtendedInfo": [
                             {"MessageId": "Base.1.8.PropertyValueNotInList",
                              "Message": "The value Continuous for "
                                         "BootSourceOverrideEnabled is not in the list"}]}}


class OnceOnlyBMC(redfish_stub.RedfishStub):
    """Refuses BootSourceOverrideEnabled Continuous; takes Once and resets."""

    def __init__(self, power_state, allowed=None):
        super().__init__()
        self.documents = {
            "/redfish/v1": redfish_stub.service_root(),
            "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
            SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": power_state,
                     "Boot": {"BootSourceOverrideEnabled": "Disabled",
                              "BootSourceOverrideTarget": "None",
                              "BootSourceOverrideTarget@Redfish.AllowableValues":
                                  ["Pxe", "Hdd", "Cd"]},
                     "Actions": {"#ComputerSystem.Reset": {
                         "target": SYSTEM + "/Actions/ComputerSystem.Reset",
                         "ResetType@Redfish.AllowableValues":
                             ["On", "ForceOff", "ForceRestart"]}}},
        }
        if allowed:  # a BMC that says so is not sent Continuous at all
            self.documents[SYSTEM]["Boot"][
                "BootSourceOverrideEnabled@Redfish.AllowableValues"] = allowed

    def PATCH(self, request):
        if request.body["Boot"].get("BootSourceOverrideEnabled") == "Continuous":
            return 400, NOT_IN_LIST
        return 204, None

    def POST(self, request):
        return 204, None

    def sent(self):
        """What reached the BMC after the reads: ("boot", target, enabled) or ("reset", type)."""
        return [("boot", body["Boot"]["BootSourceOverrideTarget"],
                 body["Boot"].get("BootSourceOverrideEnabled")) if method == "PATCH"
                else ("reset", body["ResetType"])
                for method, _path, body in self.requests if method in ("PATCH", "POST")]


@pytest.fixture
def serve(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=0.0,
                                 redfish__connect_timeout=1.0) as start:
        yield lambda power_state="Off", allowed=None: start(OnceOnlyBMC(power_state, allowed))


def _task(bmc):
    return redfish_stub.task(bmc, "Once-Pass-9", username="admin", name="once")


def test_persistent_boot_device_is_set_once_and_again_before_power_on(serve):
    bmc = serve("Off")
    task = _task(bmc)
    task.driver.management.set_boot_device(task, "disk", persistent=True)
    assert bmc.sent() == [("boot", "Hdd", "Continuous"), ("boot", "Hdd", "Once")]
    assert task.node.driver_internal_info["redfish_boot_device"] == "disk"
    # The BMC reads no override; the node boots the disk all the same.
    assert task.driver.management.get_boot_device(task) == {"boot_device": "disk",
                                                            "persistent": True}

    task.driver.power.set_power_state(task, "power on")
    assert bmc.sent()[2:] == [("boot", "Hdd", "Once"), ("reset", "On")]


def test_reboot_sets_it_again_and_a_new_boot_device_replaces_it(serve):
    bmc = serve("On")
    task = _task(bmc)
    task.driver.management.set_boot_device(task, "pxe", persistent=True)
    task.driver.power.reboot(task)
    assert bmc.sent()[2:] == [("boot", "Pxe", "Once"), ("reset", "ForceRestart")]

    task.driver.management.set_boot_device(task, "cdrom", persistent=False)
    assert "redfish_boot_device" not in task.node.driver_internal_info
    task.driver.power.reboot(task)
    assert bmc.sent()[4:] == [("boot", "Cd", "Once"), ("reset", "ForceRestart")]


def test_a_bmc_listing_no_continuous_is_sent_once_only(serve):
    bmc = serve("Off", allowed=["Once", "Disabled"])
    task = _task(bmc)
    task.driver.management.set_boot_device(task, "disk", persistent=True)
    assert bmc.sent() == [("boot", "Hdd", "Once")]
    assert task.node.driver_internal_info["redfish_boot_device"] == "disk"
