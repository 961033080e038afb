"""A deploy ISO: the deploy kernel and ramdisk, booted by ISOLINUX with the agent's
kernel command line, for boot interfaces that attach media (redfish-virtual-media).

Built per node with pycdlib (no mkisofs needed): ``/isolinux/isolinux.bin``
(El Torito, no emulation, boot info table), ``ldlinux.c32``,
``isolinux.cfg`` (``kernel /vmlinuz``, ``append initrd=/initrd.img
<command line>``), ``/vmlinuz`` and ``/initrd.img``. BIOS boot only: a UEFI
boot needs an EFI system partition image, which is not built (yet). The
kernel and ramdisk are read from their local path, or downloaded into the
node's directory when given as URLs (and removed once in the ISO). The ISO
holds no secret.
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


def _local_copy(task, field: str) -> tuple[str, bool]:
    """(a local file holding driver_info ``field``, whether it is a download to remove).

    A URL is downloaded into the node's directory, and checked against the
    Content-Length the server announced: a server closing the connection
    early ends the body without an error from urllib, and the truncated
    ramdisk went into the ISO (the machine panicked on it, and the deploy
    failed only at ``[deploy] callback_timeout``). The request is the
    agent's (``user:password@`` sent as Basic authentication, which urllib
    took for part of the host name: "not a valid URL"), and messages name
    the URL without credentials or query.
    """
    path = boot_files.local_file(task, field)
    if path is not None:
        return path, False
    value = task.node.driver_info[field]
    target = os.path.join(boot_files.node_dir(task), field)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    import http.client  # here: loading the driver (every CLI command) needs no HTTP client
    import urllib.request

    from hwdrivers.agent import fetch  # the agent's request, as image_check builds it

    part = target + ".part"
    try:
        shown = fetch.redact(value)
    except ValueError:
        shown = "the URL given"  # not quoted: it may carry credentials
    try:
        request = fetch.request_for(value, user_agent="hwdrivers-conductor")
        with urllib.request.urlopen(request, timeout=CONF.deploy.agent_request_timeout) as resp, \
                open(part, "wb") as out:
            shutil.copyfileobj(resp, out, 1024 * 1024)
            expected, got = resp.headers.get("Content-Length"), out.tell()
        if expected is not None and expected.isdigit() and int(expected) != got:
            raise http.client.IncompleteRead(b"", int(expected) - got)
    except ValueError as exc:  # http://[::1 and the like: not worth retrying
        boot_files.remove(part)
        raise exception.DriverSettingsError(
            "driver_info %s: %s is not a valid URL (%s); correct it" % (field, shown, exc),
            node=task.node.ident) from None
    except (OSError, http.client.HTTPException) as exc:
        boot_files.remove(part)
        if isinstance(exc, http.client.IncompleteRead):
            exc = "the server sent %d of the %s bytes it announced" % (got, expected)
        raise exception.DriverConnectionError(
            "driver_info %s: downloading %s failed: %s; check the URL, and that this "
            "conductor reaches its server" % (field, shown, exc), node=task.node.ident) from None
    os.replace(part, target)
    return target, True


def build(task, params: str) -> str:
    """Write the node's deploy ISO under http_root; returns its path.

    Whatever fails (a download, a full disk), no partial ISO and no
    downloaded copy stays behind: each is the size of the ramdisk.
    """
    isolinux_bin, ldlinux = isolinux_files()
    target = os.path.join(boot_files.node_dir(task), ISO_NAME)
    leftovers = [target + ".part"]
    try:
        sources = []
        for field in ("deploy_kernel", "deploy_ramdisk"):
            path, downloaded = _local_copy(task, field)
            sources.append(path)
            if downloaded:  # the ISO holds it: kept, it doubled the node's share of disk
                leftovers.append(path)
        _write_iso(target, isolinux_bin, ldlinux, sources[0], sources[1], params)
    finally:
        for path in leftovers:
            boot_files.remove(path)
    return target


def _write_iso(target, isolinux_bin, ldlinux, kernel, ramdisk, params: str) -> None:
    import pycdlib

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
        os.makedirs(os.path.dirname(target), exist_ok=True)
        iso.write(target + ".part")
        os.replace(target + ".part", target)
    finally:
        iso.close()
        for handle in handles:
            handle.close()


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
