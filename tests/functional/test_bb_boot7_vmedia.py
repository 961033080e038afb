"""redfish-virtual-media: what its deploy ISO cannot boot, and cleaning up after a lost BMC.

Against a small Redfish service on 127.0.0.1 (redfish_stub): a system with
one virtual CD whose EjectMedia fails while ``broken`` is set.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import boot_iso
from tests.functional import redfish_stub

SYSTEM = "/redfish/v1/Systems/1"
CD = SYSTEM + "/VirtualMedia/Cd"


class OneCD(redfish_stub.RedfishStub):
    def __init__(self):
        super().__init__()
        self.cd = {"Inserted": True, "Image": "http://192.0.2.9/u/deploy.iso"}
        self.broken = True

    def document(self, path):
        return {
            "/redfish/v1": redfish_stub.service_root(),
            "/redfish/v1/Systems": redfish_stub.systems(SYSTEM),
            SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "Off",
                     "VirtualMedia": {"@odata.id": SYSTEM + "/VirtualMedia"}},
            SYSTEM + "/VirtualMedia": {"@odata.id": SYSTEM + "/VirtualMedia",
                                       "Members": [{"@odata.id": CD}]},
            CD: dict(self.cd, **{
                "@odata.id": CD, "Id": "Cd", "Name": "Virtual CD", "MediaTypes": ["CD", "DVD"],
                "Actions": {
                    "#VirtualMedia.InsertMedia": {
                        "target": CD + "/Actions/VirtualMedia.InsertMedia"},
                    "#VirtualMedia.EjectMedia": {
                        "target": CD + "/Actions/VirtualMedia.EjectMedia"}}}),
        }.get(path)

    def POST(self, request):
        if request.path.endswith("InsertMedia"):
            if self.cd["Inserted"]:
                return 400, {"error": {"code": "Base.1.4.ActionNotSupported",
                                       "message": "virtual media already attached"}}
            self.cd = {"Inserted": True, "Image": request.body["Image"]}
            return 204, None
        if self.broken:
            return 500, {"error": {"code": "Base.1.4.InternalError", "message": "BMC busy"}}
        self.cd = {"Inserted": False, "Image": None}
        return 204, None


@pytest.fixture
def bmc(config, tmp_path):
    with redfish_stub.configured(config, enabled_boot_interfaces=["redfish-virtual-media"],
                                 redfish__command_retry_timeout=0.0,
                                 deploy__http_root=str(tmp_path / "httpboot"),
                                 deploy__local_file_allowed_paths=[str(tmp_path)]) as serve:
        (tmp_path / "k").write_bytes(b"kernel")
        (tmp_path / "r").write_bytes(b"ramdisk")
        stub = serve(OneCD())
        task = redfish_stub.task(stub, "pw", boot_interface="redfish-virtual-media")
        task.node.driver_info.update(deploy_kernel=str(tmp_path / "k"),
                                     deploy_ramdisk=str(tmp_path / "r"))
        yield task, stub, tmp_path / "httpboot"


@pytest.mark.parametrize("cleanup", ["clean_up_ramdisk", "clean_up_instance",
                                     "prepare_instance"])
def test_the_iso_goes_even_when_ejecting_fails(bmc, cleanup):
    task, stub, root = bmc
    node_dir = root / task.node.uuid
    node_dir.mkdir(parents=True)
    (node_dir / "deploy.iso").write_bytes(b"\0" * 4096)
    with pytest.raises(exception.DriverConnectionError) as caught:
        getattr(task.driver.boot, cleanup)(task)
    assert "left it inserted: %s (http://192.0.2.9/u/deploy.iso)" % CD in str(caught.value)
    assert not node_dir.exists()
    stub.broken = False
    task.driver.boot.clean_up_ramdisk(task)  # asked again: ejects, nothing left to remove
    assert stub.cd == {"Inserted": False, "Image": None}


def test_an_old_image_the_bmc_would_not_eject_is_said_not_passed_over(bmc):
    """An ISO left from an earlier attempt: the eject answered 500, which sushy
    passes over, and the CD's 400 to InsertMedia read as 'not for remote
    images': the deploy failed as unsupported, not retried."""
    task, stub, _root = bmc
    with pytest.raises(exception.DriverConnectionError) as caught:
        task.driver.boot._insert(task, "http://192.0.2.9/u/new.iso")
    assert "left it inserted: %s (http://192.0.2.9/u/deploy.iso)" % CD in str(caught.value)
    stub.broken = False  # the next attempt
    task.driver.boot._insert(task, "http://192.0.2.9/u/new.iso")
    assert stub.cd == {"Inserted": True, "Image": "http://192.0.2.9/u/new.iso"}


@pytest.mark.parametrize("where, value, said", [
    ("driver_info", {"redfish_boot_mode": "uefi"}, "driver_info redfish_boot_mode is uefi"),
    ("properties", {"capabilities": "boot_mode:uefi,disk_label:gpt"},
     "properties capabilities boot_mode is uefi"),
    ("properties", {"capabilities": {"boot_mode": "UEFI"}},
     "properties capabilities boot_mode is uefi"),
    ("properties", {"capabilities": "secure_boot:true"},
     "properties capabilities secure_boot is true"),
])
def test_a_node_booting_uefi_is_refused_at_validation(bmc, where, value, said):
    """Without an EFI system partition (``bootloader``) the ISO boots BIOS only: the
    deploy failed at callback_timeout."""
    task, _stub, _root = bmc
    if where == "driver_info":
        task.node.driver_info.update(value)
    else:
        task.node.properties = value
    with pytest.raises(exception.InvalidParameterValue) as caught:
        task.driver.boot.validate(task)
    assert said in str(caught.value)
    assert "no bootloader is set; set driver_info bootloader" in str(caught.value)
    assert "use boot_interface ipxe" in str(caught.value)


@pytest.mark.parametrize("properties", [None, {"capabilities": "boot_mode:bios"},
                                        {"capabilities": "secure_boot:false"}])
def test_a_node_booting_bios_validates(bmc, properties):
    task, _stub, _root = bmc
    task.node.properties = properties
    task.node.driver_info["redfish_boot_mode"] = "bios"
    try:
        boot_iso.isolinux_files()
    except exception.DriverToolMissing:
        pytest.skip("isolinux is not installed")
    task.driver.boot.validate(task)


def test_a_device_document_sushy_cannot_read_is_not_taken_for_no_devices(bmc):
    """A CD document without its Name (required by sushy) read as 'this system
    has no VirtualMedia link': cleaning up found no CD and ejected nothing."""
    task, stub, _root = bmc
    stub.broken = False
    real = stub.document

    def nameless(path):
        document = real(path)
        return {k: v for k, v in document.items() if k != "Name"} if path == CD else document
    stub.document = nameless
    with pytest.raises(exception.HWDriversError) as caught:
        task.driver.boot.clean_up_instance(task)
    assert "The attribute Name is missing from the resource %s" % CD in str(caught.value)
    assert stub.cd["Inserted"]  # not ejected, and said so
