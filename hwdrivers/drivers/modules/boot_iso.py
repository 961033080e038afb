"""A deploy ISO: the deploy kernel and ramdisk, booted by ISOLINUX with the agent's
kernel command line, for boot interfaces that attach media (redfish-virtual-media).

Built per node with pycdlib (no mkisofs needed): ``/isolinux/isolinux.bin``
(El Torito, no emulation, boot info table), ``ldlinux.c32``,
``isolinux.cfg`` (``kernel /vmlinuz``, ``append initrd=/initrd.img
<command line>``), ``/vmlinuz`` and ``/initrd.img``. BIOS boot only: a UEFI
boot needs an EFI system partition image, which is not built (yet). The
kernel and ramdisk are read from their local path, or downloaded once into
the node's directory when given as URLs. The ISO holds no secret.
"""

import io
import os
import shutil

from hwdrivers.common import exception
from hwdrivers.conf import CONF
from hwdrivers.drivers.modules import boot_files


ISO_NAME = "deploy.iso"
CONFIG_PATH = "isolinux/isolinux.cfg"


def isolinux_files() -> tuple[str, str]:
    """(isolinux.bin, ldlinux.c32), or DriverToolMissing naming the packages."""
    paths = (CONF.deploy.isolinux_bin, CONF.deploy.ldlinux_c32)
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise exception.DriverToolMissing(
            "cannot build a bootable deploy ISO: %s not found; install the Debian "
            "packages isolinux and syslinux-common, or set [deploy] isolinux_bin and "
            "ldlinux_c32" % ", ".join(missing))
    return paths


def config_text(params: str) -> str:
    return ("default deploy\nprompt 0\ntimeout 1\n\nlabel deploy\n  kernel /vmlinuz\n"
            "  append initrd=/initrd.img %s\n" % params)


def _local_copy(task, field: str) -> str:
    """A local file holding driver_info ``field`` (downloaded once if a URL)."""
    path = boot_files.local_file(task, field)
    if path is not None:
        return path
    value = task.node.driver_info[field]
    target = os.path.join(boot_files.node_dir(task), field)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    import urllib.request  # here: loading the driver (every CLI command) needs no HTTP client

    try:
        with urllib.request.urlopen(value, timeout=CONF.deploy.agent_request_timeout) as resp, \
                open(target + ".part", "wb") as out:
            shutil.copyfileobj(resp, out, 1024 * 1024)
    except OSError as exc:
        raise exception.DriverConnectionError(
            "driver_info %s: downloading %s failed: %s" % (field, value, exc),
            node=task.node.ident) from None
    os.replace(target + ".part", target)
    return target


def build(task, params: str) -> str:
    """Write the node's deploy ISO under http_root; returns its path."""
    import pycdlib

    isolinux_bin, ldlinux = isolinux_files()
    kernel = _local_copy(task, "deploy_kernel")
    ramdisk = _local_copy(task, "deploy_ramdisk")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="HWDRIVERS_DEPLOY")
    iso.add_directory("/ISOLINUX", rr_name="isolinux", joliet_path="/isolinux")
    handles = []
    try:
        for path, iso_path, name in (
                (isolinux_bin, "/ISOLINUX/ISOLINUX.BIN;1", "isolinux/isolinux.bin"),
                (ldlinux, "/ISOLINUX/LDLINUX.C32;1", "isolinux/ldlinux.c32"),
                (kernel, "/VMLINUZ.;1", "vmlinuz"),
                (ramdisk, "/INITRD.IMG;1", "initrd.img")):
            handle = open(path, "rb")
            handles.append(handle)
            iso.add_fp(handle, os.path.getsize(path), iso_path,
                       rr_name=os.path.basename(name), joliet_path="/" + name)
        config = config_text(params).encode()
        iso.add_fp(io.BytesIO(config), len(config), "/ISOLINUX/ISOLINUX.CFG;1",
                   rr_name="isolinux.cfg", joliet_path="/" + CONFIG_PATH)
        iso.add_eltorito("/ISOLINUX/ISOLINUX.BIN;1", bootcatfile="/ISOLINUX/BOOT.CAT;1",
                         rr_bootcatname="boot.cat", joliet_bootcatfile="/isolinux/boot.cat",
                         boot_load_size=4, boot_info_table=True, media_name="noemul")
        target = os.path.join(boot_files.node_dir(task), ISO_NAME)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        iso.write(target + ".part")
        os.replace(target + ".part", target)
    finally:
        iso.close()
        for handle in handles:
            handle.close()
    return target


def read_config(image) -> str:
    """isolinux.cfg of a deploy ISO (a path or a file object)."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    if isinstance(image, str):
        iso.open(image)
    else:
        iso.open_fp(image)
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path="/" + CONFIG_PATH)
        return out.getvalue().decode()
    finally:
        iso.close()
