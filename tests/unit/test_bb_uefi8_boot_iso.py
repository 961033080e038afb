"""UEFI boot from the deploy ISO of redfish-virtual-media: the operator's EFI system
partition (``bootloader``) as a second, EFI, El Torito entry, with a grub.cfg.

Real pycdlib, mtools and mkfs.fat; the ISO is read back as UEFI firmware and
GRUB reach it by the machine simulator (simulator.efi_grub_config).
"""

import hashlib
import io
import shutil
import types

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import task as driver_task
from hwdrivers.drivers.modules import boot_iso
from hwdrivers.testing import images
from hwdrivers.testing import simulator

UUID = "6f0c1c52-4a55-4b8e-a7d1-2f2d3c1b0e88"
LOADER = b"signed shim, as given\n"

pytestmark = pytest.mark.skipif(not (shutil.which("mkfs.fat") and shutil.which("mcopy")),
                                reason="needs dosfstools and mtools")


@pytest.fixture
def files(config, tmp_path):
    """kernel, ramdisk and an ESP under an allowed directory; isolinux needed."""
    allowed = tmp_path / "images"
    allowed.mkdir()
    config(deploy__http_root=str(tmp_path / "httpboot"),
           deploy__local_file_allowed_paths=[str(allowed)])
    try:
        boot_iso.isolinux_files()
    except exception.DriverToolMissing:
        pytest.skip("isolinux is not installed")
    (allowed / "k").write_bytes(b"kernel")
    (allowed / "r").write_bytes(b"ramdisk")
    images.make_esp(str(allowed / "esp.img"), loader=LOADER)
    return allowed


def _task(files, **info):
    driver_info = {"deploy_kernel": str(files / "k"), "deploy_ramdisk": str(files / "r"),
                   "bootloader": str(files / "esp.img")}
    driver_info.update(info)
    node = types.SimpleNamespace(uuid=UUID, ident=UUID, driver_info=driver_info)
    return types.SimpleNamespace(node=node)


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_the_iso_has_a_bios_and_an_efi_entry_and_the_esp_as_given(files, tmp_path):
    before = _sha(files / "esp.img")
    iso_path = boot_iso.build(_task(files), "ipa-api-url=http://192.0.2.1:6385 ipa-debug=1",
                              uefi=True)
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(iso_path)
    try:
        catalog = iso.eltorito_boot_catalog
        assert catalog.validation_entry.platform_id == 0  # BIOS: ISOLINUX, first
        assert [s.platform_id for s in catalog.sections] == [boot_iso.EFI_PLATFORM]
        on_iso = io.BytesIO()
        iso.get_file_from_iso_fp(on_iso, rr_path="/" + boot_iso.GRUB_PATH)
    finally:
        iso.close()
    assert "ipa-debug=1" in boot_iso.read_config(iso_path)  # BIOS boot as before
    data = open(iso_path, "rb").read()
    in_esp = simulator.efi_grub_config(data, str(tmp_path))
    assert in_esp == on_iso.getvalue().decode()
    image = simulator._grub_image(in_esp, "deploy.iso")
    assert (image.kernel, image.initrds) == ("deploy.iso!/vmlinuz", ["/initrd.img"])
    assert image.cmdline == "ipa-api-url=http://192.0.2.1:6385 ipa-debug=1"
    # the boot loader in the ISO's ESP is the operator's, byte for byte
    offset = simulator._efi_entry(data)
    esp = tmp_path / "esp-copy.img"
    esp.write_bytes(data[offset:offset + (files / "esp.img").stat().st_size])
    out = simulator._mtools("mtype", "-i", str(esp), "::/EFI/BOOT/BOOTX64.EFI")
    assert out.stdout == LOADER
    assert _sha(files / "esp.img") == before  # the source is not touched
    assert sorted(p.name for p in (tmp_path / "httpboot" / UUID).iterdir()) == ["deploy.iso"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".esp-")] == []


def test_a_bios_build_has_no_efi_entry(files, tmp_path):
    iso_path = boot_iso.build(_task(files), "ipa-debug=1")
    assert simulator.efi_grub_config(open(iso_path, "rb").read(), str(tmp_path)) is None


@pytest.mark.parametrize("cmdline, args", [
    ('a=1 x=$y;z b={c} d=`e` f=|g', ["a=1", "x=$y;z", "b={c}", "d=`e`", "f=|g"]),
    ('sshkey="ssh-ed25519 AAAA u@h" ip=dhcp', ["sshkey=ssh-ed25519 AAAA u@h", "ip=dhcp"]),
])
def test_grub_reads_each_argument_as_data(cmdline, args):
    """In single quotes GRUB's script expands nothing and runs nothing."""
    config = boot_iso.grub_config_text(cmdline)
    linux = next(line for line in config.splitlines() if line.strip().startswith("linux"))
    assert simulator.grub_words(linux.strip().split(None, 1)[1]) == ["/vmlinuz"] + args
    assert config.count("\n") == 8  # nothing a value could add: one menu entry


def test_an_argument_with_spaces_reaches_the_kernel_quoted_as_given():
    image = simulator._grub_image(boot_iso.grub_config_text('k="a b" c=d'), "x")
    assert image.cmdline == '"k=a b" c=d'  # the kernel reads both as k=a b


@pytest.mark.parametrize("bad", ["it's", "a\\b", 'x="open'])
def test_what_grub_would_change_is_refused_naming_the_field(files, bad):
    with pytest.raises(exception.InvalidParameterValue) as caught:
        boot_iso.build(_task(files), "ipa-debug=1 " + bad, uefi=True)
    assert "kernel_append_params" in str(caught.value)


def test_an_esp_that_is_not_fat_is_refused_naming_the_field(files, tmp_path):
    (files / "not-fat.img").write_bytes(b"\0" * 65536)
    task = _task(files, bootloader=str(files / "not-fat.img"))
    with pytest.raises(exception.DriverSettingsError) as caught:
        boot_iso.build(task, "ipa-debug=1", uefi=True)
    message = str(caught.value)
    assert "driver_info bootloader" in message and "is not a FAT image" in message
    assert "EFI/BOOT/BOOTX64.EFI" in message  # the fix
    assert list((tmp_path / "httpboot" / UUID).iterdir()) == []  # nothing left


def test_a_fat_image_without_a_boot_loader_is_refused(files):
    images.make_esp(str(files / "empty.img"))
    simulator._mtools("mdel", "-i", str(files / "empty.img"), "::/EFI/BOOT/BOOTX64.EFI")
    with pytest.raises(exception.DriverSettingsError, match="holds no EFI/BOOT/BOOT"):
        boot_iso.build(_task(files, bootloader=str(files / "empty.img")), "", uefi=True)


def test_the_option_is_used_without_driver_info_and_named_in_errors(files, config):
    task = _task(files)
    del task.node.driver_info["bootloader"]
    config(deploy__bootloader=str(files / "esp.img"))
    assert boot_iso.bootloader(task) == str(files / "esp.img")
    boot_iso.build(task, "", uefi=True)
    config(deploy__bootloader=str(files / "k"))
    with pytest.raises(exception.DriverSettingsError,
                       match=r": \[deploy\] bootloader: .* is not a FAT image"):
        boot_iso.build(task, "", uefi=True)


# -- validation of the boot interface ------------------------------------------------

def _vmedia_task(files, config, **info):
    config(enabled_boot_interfaces=["redfish-virtual-media", "noop"])
    driver_info = {"redfish_address": "https://192.0.2.1", "redfish_username": "u",
                   "redfish_password": "p", "deploy_kernel": str(files / "k"),
                   "deploy_ramdisk": str(files / "r"), "redfish_boot_mode": "uefi"}
    driver_info.update(info)
    task = driver_task.StandaloneTask.for_driver("redfish", driver_info,
                                                 boot_interface="redfish-virtual-media")
    task.node.ident = task.node.uuid  # as a conductor's node has it
    return task


def test_a_uefi_node_without_bootloader_is_refused_naming_it(files, config):
    task = _vmedia_task(files, config)
    with pytest.raises(exception.InvalidParameterValue) as caught:
        task.driver.boot.validate(task)
    message = str(caught.value)
    assert "driver_info redfish_boot_mode is uefi" in message
    assert "set driver_info bootloader (or [deploy] bootloader)" in message
    assert "use boot_interface ipxe" in message


def test_a_uefi_node_with_an_esp_validates(files, config):
    task = _vmedia_task(files, config, bootloader=str(files / "esp.img"))
    task.driver.boot.validate(task)


@pytest.mark.parametrize("info, error, said", [
    ({"bootloader": "/etc/passwd"}, exception.DriverSettingsError,
     "driver_info bootloader is a local path outside"),
    ({"bootloader": "{k}"}, exception.DriverSettingsError, "is not a FAT image"),
    ({"bootloader": "{esp}", "kernel_append_params": "msg=it's"},
     exception.InvalidParameterValue, "kernel_append_params"),
])
def test_validation_checks_what_the_uefi_build_needs(files, config, info, error, said):
    info = {k: v.format(k=files / "k", esp=files / "esp.img") for k, v in info.items()}
    task = _vmedia_task(files, config, **info)
    with pytest.raises(error, match=said):
        task.driver.boot.validate(task)


def test_a_bootloader_url_is_downloaded_and_its_credentials_never_shown(files, config):
    task = _task(files, bootloader="http://ops:s3cret@127.0.0.1:1/esp.img")
    with pytest.raises(exception.DriverConnectionError) as caught:
        boot_iso.build(task, "", uefi=True)
    assert "driver_info bootloader: downloading http://127.0.0.1:1/esp.img" in str(caught.value)
    assert "s3cret" not in str(caught.value)
