"""Deploying through Redfish virtual media, against sushy-tools' emulator.

The boot interface ``redfish-virtual-media`` builds the node's deploy ISO
(ISOLINUX, kernel, ramdisk, the agent's command line), inserts it into the
emulator system's virtual CD — the emulator really downloads it from the
service — and sets a one-time boot from CD. The simulated machine whose
BMC is that emulator system boots from CD by asking the emulator what is
inserted, reading the ISO's isolinux.cfg and starting ``hwdrivers-agent``.

What the emulator's fake systems driver cannot show (and so is not tested):
that firmware boots the ISO (its systems boot nothing; the simulator reads
the inserted ISO instead, and a real ISOLINUX boot of it was not tried), nor
that real shim and GRUB boot its EFI entry. A UEFI deploy, where the
simulator takes the ISO's EFI entry and grub.cfg: test_bb_uefi8_vmedia.py.
"""

import json

import pytest
import requests

from hwdrivers.common import boot_devices
from hwdrivers.drivers import task as driver_task
from hwdrivers.drivers.modules import boot_iso
from hwdrivers.testing import images
from tests.functional import deploy_env
from tests.waits import wait_for

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
SYSTEM = "sys-c"


def _cd(emulator, system=SYSTEM):
    auth = (emulator.username, emulator.password)
    base = "%s/redfish/v1/Systems/%s/VirtualMedia" % (emulator.url, emulator.uuid(system))
    for member in requests.get(base, auth=auth, timeout=10).json()["Members"]:
        media = requests.get(emulator.url + member["@odata.id"], auth=auth, timeout=10).json()
        if "CD" in media.get("MediaTypes", []):
            return media
    raise AssertionError("no virtual CD on %s" % system)


@pytest.fixture
def env(tmp_path):
    with deploy_env.running(tmp_path) as environment:
        yield environment


def test_deploy_with_configdrive_via_redfish_virtual_media(env, redfish_emulator):
    url, digest, path = env.add_image("vm.img", size=6 * MiB, marker="vmedia-image")
    bmc = {"url": redfish_emulator.url, "system": redfish_emulator.uuid(SYSTEM),
           "username": redfish_emulator.username, "password": redfish_emulator.password}
    machine, node = env.add_machine(
        "vm1", boot_interface="redfish-virtual-media", redfish=bmc,
        driver_info=redfish_emulator.driver_info(SYSTEM),
        instance_info={"image_source": url, "image_os_hash_algo": "sha256",
                       "image_os_hash_value": digest})
    env.make_available("vm1")
    meta = {"uuid": node["uuid"], "hostname": "vm-host"}
    env.deploy("vm1", configdrive={"meta_data": meta})
    # while the agent runs, the emulator holds our ISO in the system's CD
    wait_for(lambda: env.node("vm1")["driver_internal_info"].get("agent_url"), timeout=60,
             message="the agent booted from virtual media")
    log = "\n".join(machine.state()["log"])
    assert "cdrom boot: %s/boot/%s/deploy.iso" % (env.server.url, node["uuid"]) in log
    env.wait_state("vm1", "active")
    assert json.loads(images.read_config_drive(machine.disk)[
        "openstack/latest/meta_data.json"]) == dict(meta, name="vm1")
    with open(path, "rb") as image, open(machine.disk, "rb") as disk:
        image.seek(MiB)
        disk.seek(MiB)
        assert disk.read(4 * MiB) == image.read(4 * MiB)
    assert wait_for(lambda: machine.booted == "vmedia-image", timeout=30, message="boot")
    media = _cd(redfish_emulator)
    assert not media.get("Inserted") and not media.get("Image")  # ejected
    assert deploy_env.files_in(str(env.tmp_path / "httpboot")) in ([], ["boot.ipxe"])
    status, body = env.call("PUT", "/v1/nodes/vm1/states/provision", {"target": "deleted"})
    assert status == 202, body
    env.wait_state("vm1", "available")


def test_virtual_media_and_one_time_cd_boot_on_the_emulator(redfish_emulator, config,
                                                            tmp_path, monkeypatch):
    """The interface alone, on a redfish node: what the BMC is asked to do.

    The emulator ignores BootSourceOverrideEnabled (it always answers
    Continuous), so what was sent is read from sushy's requests.
    """
    import http.server
    import threading

    from sushy import connector

    sent = []
    real = connector.Connector._op

    def recording(self, method, path="", data=None, *args, **kwargs):
        sent.append((method, path, data))
        return real(self, method, path, data, *args, **kwargs)

    monkeypatch.setattr(connector.Connector, "_op", recording)

    def boot_patches():
        return [{k: v for k, v in data["Boot"].items() if k.startswith("BootSourceOverride")}
                for method, _, data in sent if method == "PATCH" and data and "Boot" in data]

    root = tmp_path / "httpboot"
    root.mkdir()
    handler = type("H", (http.server.SimpleHTTPRequestHandler,), {
        "log_message": lambda *a: None,
        "__init__": lambda self, *a, **k: http.server.SimpleHTTPRequestHandler.__init__(
            self, *a, directory=str(root), **k)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        config(deploy__http_root=str(root),
               deploy__http_url="http://127.0.0.1:%d" % httpd.server_address[1],
               deploy__api_url="http://192.0.2.1:6385",
               deploy__local_file_allowed_paths=[str(tmp_path)],
               enabled_boot_interfaces=["redfish-virtual-media", "noop"])
        (tmp_path / "k").write_bytes(b"kernel")
        (tmp_path / "r").write_bytes(b"ramdisk")
        info = redfish_emulator.driver_info("sys-d", deploy_kernel=str(tmp_path / "k"),
                                            deploy_ramdisk=str(tmp_path / "r"))
        task = driver_task.StandaloneTask.for_driver(
            "redfish", info, boot_interface="redfish-virtual-media")
        task.ports = [{"address": "52:54:00:00:00:44"}]
        boot = task.driver.boot
        boot.validate(task)
        boot.prepare_ramdisk(task, {})
        media = _cd(redfish_emulator, "sys-d")
        assert media["Inserted"] is True and media["WriteProtected"] is True
        assert media["Image"].endswith("/%s/deploy.iso" % task.node.uuid)
        assert redfish_emulator.system_json("sys-d")["Boot"]["BootSourceOverrideTarget"] \
            == "Cd"
        assert boot_patches()[-1] == {"BootSourceOverrideTarget": "Cd",
                                      "BootSourceOverrideEnabled": "Once"}
        inserts = [data for method, path, data in sent
                   if method == "POST" and path.endswith("VirtualMedia.InsertMedia")]
        assert inserts[-1]["Image"] == media["Image"]
        config_text = boot_iso.read_config(str(root / task.node.uuid / "deploy.iso"))
        import pycdlib
        iso = pycdlib.PyCdlib()
        iso.open(str(root / task.node.uuid / "deploy.iso"))
        try:  # El Torito: ISOLINUX boots it, with its boot info table
            assert iso.eltorito_boot_catalog is not None
            names = {n for _root, _dirs, files in iso.walk(rr_path="/") for n in files}
            assert {"isolinux.bin", "ldlinux.c32", "isolinux.cfg", "vmlinuz",
                    "initrd.img"} <= names
        finally:
            iso.close()
        assert "ipa-api-url=http://192.0.2.1:6385" in config_text
        assert "BOOTIF=01-52-54-00-00-00-44" in config_text and "boot_method=vmedia" in config_text
        boot.prepare_instance(task)
        media = _cd(redfish_emulator, "sys-d")
        assert not media.get("Inserted") and not media.get("Image")
        assert redfish_emulator.system_json("sys-d")["Boot"]["BootSourceOverrideTarget"] \
            == "Hdd"
        assert boot_patches()[-1] == {"BootSourceOverrideTarget": "Hdd",
                                      "BootSourceOverrideEnabled": "Continuous"}
        assert not (root / task.node.uuid).exists()
        assert task.driver.management.get_boot_device(task)["boot_device"] == boot_devices.DISK
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_missing_isolinux_is_a_clear_tool_missing(redfish_emulator, config, tmp_path):
    from hwdrivers.common import exception

    config(deploy__isolinux_bin=str(tmp_path / "no-isolinux.bin"))
    info = redfish_emulator.driver_info("sys-d", deploy_kernel="http://x/k",
                                        deploy_ramdisk="http://x/r")
    task = driver_task.StandaloneTask.for_driver(
        "redfish", info, boot_interface="redfish-virtual-media")
    with pytest.raises(exception.DriverToolMissing, match="isolinux"):
        task.driver.boot.validate(task)
