"""A UEFI node deployed through Redfish virtual media, against sushy-tools' emulator.

The node says it boots UEFI (``capabilities`` ``boot_mode:uefi``) and names an
EFI system partition image (``bootloader``, made with mkfs.fat and mcopy).
The simulated machine's firmware boots UEFI only: from the ISO the emulator
holds it takes the El Torito EFI entry, the ESP it points to and the
``grub.cfg`` in it, and starts the agent with that kernel line. An ISO
without the EFI entry would boot nothing, and the deploy would hang until
``callback_timeout``.
"""

import shutil

import pytest

from hwdrivers.testing import images
from tests.functional import deploy_env
from tests.waits import wait_for

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("mkfs.fat") and shutil.which("mcopy")),
                                 reason="needs dosfstools and mtools")]

MiB = 1024 * 1024
SYSTEM = "sys-c"


@pytest.fixture
def env(tmp_path):
    with deploy_env.running(tmp_path) as environment:
        yield environment


def test_deploy_a_uefi_node_via_redfish_virtual_media(env, redfish_emulator):
    url, digest, path = env.add_image("uefi.img", size=6 * MiB, marker="uefi-image")
    esp = images.make_esp(str(env.tmp_path / "deploy-images" / "esp.img"))
    bmc = {"url": redfish_emulator.url, "system": redfish_emulator.uuid(SYSTEM),
           "username": redfish_emulator.username, "password": redfish_emulator.password}
    machine, node = env.add_machine(
        "uefi1", boot_interface="redfish-virtual-media", redfish=bmc,
        driver_info=redfish_emulator.driver_info(SYSTEM, bootloader=esp),
        instance_info={"image_source": url, "image_os_hash_algo": "sha256",
                       "image_os_hash_value": digest})
    machine.set_boot_mode("uefi")
    status, body = env.call("PATCH", "/v1/nodes/uefi1", [
        {"op": "add", "path": "/properties/capabilities", "value": "boot_mode:uefi"}])
    assert status == 200, body
    env.make_available("uefi1")
    env.deploy("uefi1")
    wait_for(lambda: env.node("uefi1")["driver_internal_info"].get("agent_url"), timeout=60,
             message="the agent booted from the ISO's EFI entry")
    log = "\n".join(machine.state()["log"])
    assert "cdrom boot: EFI entry, EFI/BOOT/grub.cfg" in log
    with open(machine.path + "/cmdline") as handle:
        cmdline = handle.read()
    assert "ipa-node-uuid=%s" % node["uuid"] in cmdline and "boot_method=vmedia" in cmdline
    env.wait_state("uefi1", "active")
    with open(path, "rb") as image, open(machine.disk, "rb") as disk:
        image.seek(MiB)
        disk.seek(MiB)
        assert disk.read(4 * MiB) == image.read(4 * MiB)
    assert wait_for(lambda: machine.booted == "uefi-image", timeout=30, message="boot")
    assert deploy_env.files_in(str(env.tmp_path / "httpboot")) in ([], ["boot.ipxe"])
