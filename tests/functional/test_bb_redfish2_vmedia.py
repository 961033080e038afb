"""redfish-virtual-media against sushy-tools' emulator: cleaning up needs only the BMC.

Ejecting the virtual CD (tear down, an aborted deploy) talks to the BMC and
nothing else, so it must not depend on the deploy ramdisk fields the
interface needs to *build* the ISO: an operator who unset them on a
deployed node could otherwise not tear it down.
"""

import http.server
import threading

import pytest
import requests

from hwdrivers.drivers.task import StandaloneTask
from tests.functional import redfish_stub

SYSTEM = "sys-b"  # its CD is used by no other test


@pytest.fixture
def image_url(tmp_path):
    """An http URL the emulator can fetch an ISO from (it downloads on insert)."""
    (tmp_path / "old.iso").write_bytes(b"not really an iso")
    handler = type("Files", (http.server.SimpleHTTPRequestHandler,), {
        "log_message": lambda *a: None,
        "__init__": lambda self, *a, **k: http.server.SimpleHTTPRequestHandler.__init__(
            self, *a, directory=str(tmp_path), **k)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/old.iso" % server.server_address[1]
    server.shutdown()
    server.server_close()


def _cd_url(emulator):
    return "%s/redfish/v1/Systems/%s/VirtualMedia/Cd" % (emulator.url,
                                                          emulator.uuid(SYSTEM))


def test_clean_up_ejects_the_cd_of_a_node_without_deploy_ramdisk_fields(
        redfish_emulator, config, image_url):
    auth = (redfish_emulator.username, redfish_emulator.password)
    with redfish_stub.configured(config, enabled_boot_interfaces=["redfish-virtual-media",
                                                                  "noop"],
                                 redfish__command_retry_timeout=1.0):
        requests.post(_cd_url(redfish_emulator) + "/Actions/VirtualMedia.InsertMedia",
                      auth=auth, json={"Image": image_url, "Inserted": True},
                      timeout=10).raise_for_status()
        assert requests.get(_cd_url(redfish_emulator), auth=auth,
                            timeout=10).json()["Inserted"]

        task = StandaloneTask.for_driver("redfish", redfish_emulator.driver_info(SYSTEM),
                                         boot_interface="redfish-virtual-media")
        task.driver.boot.clean_up_instance(task)
        media = requests.get(_cd_url(redfish_emulator), auth=auth, timeout=10).json()
        assert not media.get("Inserted") and not media.get("Image")


# -- a BMC that lists its virtual media under the Manager ------------------------

MANAGER = "/redfish/v1/Managers/iDRAC.Embedded.1"


class ManagerMediaBMC(redfish_stub.RedfishStub):
    """A Redfish service whose system has no VirtualMedia link; its manager has a
    removable disk and a CD (iDRAC before 6.0), or nothing when ``media`` is empty.

    Devices named CD... are CDs; those in ``refuse`` answer InsertMedia with 400,
    as a Cisco UCS's CIMC does for the ones its console keeps.
    """

    def __init__(self, media=("RemovableDisk", "CD"), refuse=(), in_post=0):
        super().__init__()
        self.media = {name: {"Inserted": False, "Image": None} for name in media}
        self.refuse = set(refuse)
        #: InsertMedia requests refused as during POST (iLO) before one is taken
        self.in_post = in_post

    def document(self, path):
        system = "/redfish/v1/Systems/System.Embedded.1"
        documents = {
            "/redfish/v1": redfish_stub.service_root(),
            "/redfish/v1/Systems": redfish_stub.systems(system),
            system: {"@odata.id": system, "Id": "System.Embedded.1", "PowerState": "On",
                     "Links": {"ManagedBy": [{"@odata.id": MANAGER}]}},
            MANAGER: dict({"@odata.id": MANAGER, "Id": "iDRAC.Embedded.1"}, **(
                {"VirtualMedia": {"@odata.id": MANAGER + "/VirtualMedia"}}
                if self.media else {})),
            MANAGER + "/VirtualMedia": {
                "@odata.id": MANAGER + "/VirtualMedia",
                "Members": [{"@odata.id": "%s/VirtualMedia/%s" % (MANAGER, name)}
                            for name in self.media]},
        }
        for name, state in self.media.items():
            path_ = "%s/VirtualMedia/%s" % (MANAGER, name)
            documents[path_] = dict(state, **{
                "@odata.id": path_, "Id": name, "Name": "Virtual " + name, "MediaTypes": [
                    "CD", "DVD"] if name.startswith("CD") else ["USBStick"],
                "Actions": {
                    "#VirtualMedia.InsertMedia": {
                        "target": path_ + "/Actions/VirtualMedia.InsertMedia"},
                    "#VirtualMedia.EjectMedia": {
                        "target": path_ + "/Actions/VirtualMedia.EjectMedia"}}})
        return documents.get(path)

    def POST(self, request):
        body = request.body or {}
        name, _, action = request.path.rpartition("/Actions/VirtualMedia.")
        state = self.media.get(name.rpartition("/")[2])
        if state is None:
            return redfish_stub.NOT_FOUND
        if action == "InsertMedia" and self.in_post:
            self.in_post -= 1
            return 400, {"error": {
                "code": "iLO.0.10.ExtendedInfo", "message": "See @Message.ExtendedInfo",
                "@Message.ExtendedInfo": [
                    {"MessageId": "iLO.2.14.UnableToModifyDuringSystemPOST"}]}}
        if action == "InsertMedia" and name.rpartition("/")[2] in self.refuse:
            return 400, {"error": {
                "code": "Base.1.4.GeneralError", "message": "reserved for vKVM",
                "@Message.ExtendedInfo": [{"MessageId": "Base.1.4.ActionNotSupported",
                                           "Message": "reserved for vKVM"}]}}
        if action == "InsertMedia":
            state.update(Inserted=True, Image=body["Image"])
        else:
            state.update(Inserted=False, Image=None)
        return 204, None


@pytest.fixture
def manager_bmc(config):
    with redfish_stub.configured(config, enabled_boot_interfaces=["redfish-virtual-media",
                                                                  "noop"],
                                 redfish__command_retry_timeout=5.0) as serve:
        def start(**kwargs):
            server = serve(ManagerMediaBMC(**kwargs))
            return redfish_stub.task(server, "Manager-Pass-5",
                                     boot_interface="redfish-virtual-media"), server

        yield start


def test_virtual_media_listed_under_the_manager_is_used(manager_bmc):
    task, bmc = manager_bmc()
    task.driver.boot._insert(task, "http://192.0.2.9/deploy.iso")
    assert bmc.media == {"RemovableDisk": {"Inserted": False, "Image": None},
                         "CD": {"Inserted": True, "Image": "http://192.0.2.9/deploy.iso"}}
    task.driver.boot.clean_up_instance(task)
    assert bmc.media["CD"] == {"Inserted": False, "Image": None}


def test_no_virtual_media_anywhere_is_unsupported_at_once(manager_bmc):
    """Not an unexpected answer retried for command_retry_timeout: said, not retried."""
    from hwdrivers.common import exception
    from hwdrivers.drivers import retry

    task, _bmc = manager_bmc(media=())
    with pytest.raises(exception.DriverUnsupportedAction) as info:
        retry.run(task, task.driver.boot, task.driver.boot._insert, "http://192.0.2.9/x.iso")
    assert "no virtual CD or DVD, neither under the system nor under its managers" in str(
        info.value)
    assert "attempts" not in str(info.value)


def test_cleaning_up_a_node_without_virtual_media_has_nothing_to_eject(manager_bmc):
    """Tearing down must not fail where inserting did (no virtual media, no licence)."""
    task, _bmc = manager_bmc(media=())
    task.driver.boot.clean_up_instance(task)


def test_a_cd_that_refuses_the_image_is_passed_over_for_the_next(manager_bmc):
    """Cisco UCS: the first virtual CD is its console's and answers 400 to InsertMedia."""
    task, bmc = manager_bmc(media=("CD-vKVM", "CD"), refuse=("CD-vKVM",))
    task.driver.boot._insert(task, "http://192.0.2.9/deploy.iso")
    assert bmc.media == {"CD-vKVM": {"Inserted": False, "Image": None},
                         "CD": {"Inserted": True, "Image": "http://192.0.2.9/deploy.iso"}}


def test_every_cd_refusing_says_what_each_answered(manager_bmc):
    from hwdrivers.common import exception

    task, _bmc = manager_bmc(media=("CD-vKVM", "CD"), refuse=("CD-vKVM", "CD"))
    with pytest.raises(exception.DriverUnsupportedAction) as info:
        task.driver.boot._insert(task, "http://192.0.2.9/deploy.iso")
    message = str(info.value)
    assert "no virtual CD or DVD of redfish system" in message
    assert "VirtualMedia/CD-vKVM: HTTP 400 reserved for vKVM" in message
    assert "VirtualMedia/CD: HTTP 400 reserved for vKVM" in message


def test_a_cd_refused_during_post_is_asked_again_not_passed_over(manager_bmc):
    """'Not now' is not 'not this CD': the insert is retried, into the same CD."""
    from hwdrivers.drivers import retry

    task, bmc = manager_bmc(media=("CD", "CD-2"), in_post=1)
    retry.run(task, task.driver.boot, task.driver.boot._insert, "http://192.0.2.9/deploy.iso")
    assert bmc.in_post == 0
    assert bmc.media == {"CD": {"Inserted": True, "Image": "http://192.0.2.9/deploy.iso"},
                         "CD-2": {"Inserted": False, "Image": None}}
