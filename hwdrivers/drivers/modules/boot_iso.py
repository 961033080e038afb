"""A deploy ISO: the deploy kernel and ramdisk, booted by ISOLINUX (BIOS) or by the
operator's EFI boot loader (UEFI) with the agent's kernel command line, for boot
interfaces that attach media (redfish-virtual-media).

Built per node with pycdlib (no mkisofs needed): ``/isolinux/isolinux.bin``
(El Torito, no emulation, boot info table), ``ldlinux.c32``,
``isolinux.cfg`` (``kernel /vmlinuz``, ``append initrd=/initrd.img
<command line>``), ``/vmlinuz`` and ``/initrd.img``. The kernel and ramdisk
are read from their local path, or downloaded into the node's directory when
given as URLs (and removed once in the ISO). The ISO holds no secret.

For a node booting UEFI, as Ironic does: the EFI system partition image the
operator provides (driver_info or ``[deploy] bootloader``: a FAT image with
``EFI/BOOT/BOOTX64.EFI``, shim or GRUB, signed for Secure Boot) is added as
``/boot/grub/efiboot.img`` and as a second El Torito entry (platform 0xEF,
EFI), with a ``grub.cfg`` loading the same kernel, ramdisk and command line
both in a copy of that image (mtools' ``mcopy``; nothing else in it is
touched, so its signatures hold) and at ``/EFI/BOOT/grub.cfg`` on the ISO,
Ironic's ``grub_config_path``. BIOS boot keeps working from the same ISO.
"""

import io
import os
import shutil
import subprocess

from hwdrivers.common import exception
from hwdrivers.conf import CONF
from hwdrivers.drivers import params as driver_params
from hwdrivers.drivers.modules import boot_cache
from hwdrivers.drivers.modules import boot_files


ISO_NAME = "deploy.iso"
CONFIG_PATH = "isolinux/isolinux.cfg"
#: Where the EFI system partition image and GRUB's configuration go (Ironic's places)
ESP_PATH = "boot/grub/efiboot.img"
GRUB_PATH = "EFI/BOOT/grub.cfg"
#: The ISO's volume label, which grub.cfg finds the kernel's file system by
VOLUME = "HWDRIVERS_DEPLOY"
#: El Torito platform of an EFI boot entry
EFI_PLATFORM = 0xEF

BOOTLOADER = driver_params.Param(
    "bootloader", "The EFI system partition image for UEFI boot from the deploy ISO (a "
    "FAT image holding EFI/BOOT/BOOTX64.EFI): an http(s) URL or an absolute path on "
    "the conductor; default [deploy] bootloader", check=boot_files._url_or_path)


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


def _where(task, field: str) -> str:
    """Where ``field`` was set: driver_info, else the ``[deploy]`` option."""
    if (task.node.driver_info or {}).get(field):
        return "driver_info %s" % field
    return "[deploy] %s" % field


def _option_file(task, field: str, value: str | None) -> str | None:
    """The local file a ``[deploy]`` option names, or None for a URL (or no value)."""
    if not value or value.startswith(("http://", "https://")):
        return None
    path = value[len("file://"):] if value.startswith("file://") else value
    if not os.path.isfile(path):
        raise exception.DriverSettingsError(
            "[deploy] %s: %s is not a file on this conductor; correct the option"
            % (field, path), node=task.node.ident)
    return path


# -- UEFI: the operator's EFI system partition and grub.cfg ------------------------

def bootloader(task) -> str | None:
    """The node's EFI system partition image: driver_info, else ``[deploy] bootloader``."""
    return (task.node.driver_info or {}).get("bootloader") or CONF.deploy.bootloader or None


def bootloader_file(task) -> str | None:
    """The local file the node's bootloader names, or None for a URL (checked as set)."""
    if (task.node.driver_info or {}).get("bootloader"):
        return boot_files.local_file(task, "bootloader")
    return _option_file(task, "bootloader", CONF.deploy.bootloader)


def mtools() -> None:
    """DriverToolMissing unless mtools (the ESP copy gets grub.cfg with mcopy) is here."""
    missing = [tool for tool in ("mcopy", "mdir") if shutil.which(tool) is None]
    if missing:
        raise exception.DriverToolMissing(
            "cannot build a UEFI-bootable deploy ISO: %s not found; install the Debian "
            "package mtools" % ", ".join(missing))


#: Characters GRUB's ``linux`` command hands the kernel escaped with a backslash,
#: which the kernel does not read: the argument would arrive changed.
_GRUB_ALTERED = frozenset("'\\")


def kernel_args(cmdline: str) -> list[str]:
    """The kernel's own arguments in ``cmdline``, its double quotes removed.

    As the kernel splits its command line: whitespace inside double quotes
    does not end an argument (``sshkey="ssh-ed25519 AAAA... user@host"``).
    GRUB quotes an argument with spaces again when it builds the command line.
    ValueError for what GRUB would change on the way (an apostrophe, a
    backslash, an unbalanced double quote).
    """
    args, word, quoted, started = [], [], False, False
    for char in cmdline + " ":
        if char == '"':
            quoted, started = not quoted, True
        elif char.isspace() and not quoted:
            if started:
                args.append("".join(word))
            word, started = [], False
        else:
            word.append(char)
            started = True
    if quoted:
        raise ValueError("has an unbalanced double quote")
    altered = sorted({c for arg in args for c in arg} & _GRUB_ALTERED)
    if altered:
        raise ValueError("has %s, which GRUB passes to the kernel escaped with a backslash"
                         % " and ".join(repr(c) for c in altered))
    return args


def grub_config_text(cmdline: str) -> str:
    """grub.cfg booting ``/vmlinuz`` and ``/initrd.img`` of the ISO with ``cmdline``.

    Each argument in single quotes: inside them GRUB's script reads nothing
    (``$``, ``;``, ``{``, a double quote are data), so a kernel argument can
    neither break the script nor run a command of its own.
    """
    words = " ".join("'%s'" % arg for arg in kernel_args(cmdline))
    return ("set default=0\nset timeout=1\n"
            "search --no-floppy --set=root --label %s\n\n"
            "menuentry \"deploy\" {\n  linux /vmlinuz %s\n  initrd /initrd.img\n}\n"
            % (VOLUME, words))


def _is_fat(path: str) -> bool:
    """Whether ``path`` starts with a FAT boot sector (FAT12/16 or FAT32 signature)."""
    with open(path, "rb") as image:
        head = image.read(512)
    return (len(head) == 512 and head[510:512] == b"\x55\xaa"
            and (head[54:57] == b"FAT" or head[82:87] == b"FAT32"))


def _mtools(args: list[str]) -> subprocess.CompletedProcess:
    # MTOOLS_SKIP_CHECK: an image whose geometry mtools finds odd is still read
    return subprocess.run(args, capture_output=True, text=True, check=False,
                          env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))


def check_esp(task, path: str) -> None:
    """DriverSettingsError naming the field unless ``path`` is an ESP firmware boots.

    A FAT file system with an ``EFI/BOOT/BOOT*.EFI`` loader: anything else
    (an ISO, a disk image with a partition table) boots nothing, and the
    deploy failed only at ``[deploy] callback_timeout``.
    """
    fix = ("give an EFI system partition image: a FAT file system holding "
           "EFI/BOOT/BOOTX64.EFI (shim or GRUB)")
    if not _is_fat(path):
        raise exception.DriverSettingsError(
            "%s: %s is not a FAT image; %s" % (_where(task, "bootloader"),
                                               _shown(task), fix), node=task.node.ident)
    mtools()
    listing = _mtools(["mdir", "-b", "-i", path, "::/EFI/BOOT"])
    loaders = [line for line in listing.stdout.split()
               if line.upper().rsplit("/", 1)[-1].startswith("BOOT")
               and line.upper().endswith(".EFI")]
    if listing.returncode != 0 or not loaders:
        raise exception.DriverSettingsError(
            "%s: %s holds no EFI/BOOT/BOOT*.EFI boot loader; %s"
            % (_where(task, "bootloader"), _shown(task), fix), node=task.node.ident)


def _shown(task) -> str:
    """The bootloader setting as errors may show it (a URL without credentials)."""
    value = bootloader(task) or ""
    if not value.startswith(("http://", "https://")):
        return value
    from hwdrivers.agent import fetch

    try:
        return fetch.redact(value)
    except ValueError:
        return "the URL given"


def _esp_with_grub(task, source: str, target: str, grub_cfg: str) -> None:
    """Copy the ESP image to ``target`` and put ``grub_cfg`` in it as EFI/BOOT/grub.cfg.

    Only that file is written (replaced if the image has one): the boot
    loaders stay as signed, so Secure Boot still accepts them.
    """
    check_esp(task, source)
    shutil.copyfile(source, target)
    config = target + ".grub.cfg"
    try:
        with open(config, "w") as handle:
            handle.write(grub_cfg)
        done = _mtools(["mcopy", "-o", "-i", target, config, "::/" + GRUB_PATH])
    finally:
        boot_files.remove(config)
    if done.returncode != 0:
        raise exception.DriverSettingsError(
            "%s: adding EFI/BOOT/grub.cfg to %s failed (%s); give an EFI system partition "
            "image with room for it (a few KiB free)"
            % (_where(task, "bootloader"), _shown(task),
               done.stderr.strip().replace(target, "the image") or done.returncode),
            node=task.node.ident)


def _local_copy(task, field: str, option: str | None = None) -> tuple[str, bool]:
    """(a local file holding driver_info ``field``, whether it is a download to remove).

    A URL is fetched through the conductor's cache (:mod:`boot_cache`:
    downloaded once, checked with a conditional request on later uses), or,
    with the cache off, downloaded into the node's directory; either way
    checked against the Content-Length the server announced: a server
    closing the connection early ends the body without an error from
    urllib, and the truncated ramdisk went into the ISO (the machine
    panicked on it, and the deploy failed only at ``[deploy]
    callback_timeout``). The request is the
    agent's (``user:password@`` sent as Basic authentication, which urllib
    took for part of the host name: "not a valid URL"), and messages name
    the URL without credentials or query. ``option``: the ``[deploy]``
    option's value, used when driver_info has no ``field`` (an operator's
    path, not limited to local_file_allowed_paths).
    """
    value = (task.node.driver_info or {}).get(field)
    path = boot_files.local_file(task, field) if value else _option_file(task, field, option)
    if path is not None:
        return path, False
    value = value or option
    import http.client  # here: loading the driver (every CLI command) needs no HTTP client

    from hwdrivers.agent import fetch  # the agent's request, as image_check builds it

    try:
        shown = fetch.redact(value)
    except ValueError:
        shown = "the URL given"  # not quoted: it may carry credentials
    timeout = CONF.deploy.agent_request_timeout
    try:
        request = fetch.request_for(value, user_agent="hwdrivers-conductor")
        if boot_cache.enabled():
            return boot_cache.get(value, request, timeout, shown), False
        target = os.path.join(boot_files.node_dir(task), field)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        boot_cache.download(request, target, timeout)
    except boot_cache.Unusable as exc:  # the conductor's disk, not the server
        raise exception.DriverSettingsError(
            "%s: %s was not downloaded: %s; make it a writable directory with free "
            "space ([DEFAULT] state_path), or turn the cache off ([deploy] "
            "boot_file_cache_ttl = 0)" % (_where(task, field), shown, exc.strerror),
            node=task.node.ident) from None
    except ValueError as exc:  # http://[::1 and the like: not worth retrying
        raise exception.DriverSettingsError(
            "%s: %s is not a valid URL (%s); correct it" % (_where(task, field), shown, exc),
            node=task.node.ident) from None
    except (OSError, http.client.HTTPException) as exc:
        raise exception.DriverConnectionError(
            "%s: downloading %s failed: %s; check the URL, and that this conductor "
            "reaches its server" % (_where(task, field), shown, exc),
            node=task.node.ident) from None
    return target, True


def build(task, params: str, uefi: bool = False) -> str:
    """Write the node's deploy ISO under http_root; returns its path.

    ``uefi``: bootable by UEFI firmware too (the node's ``bootloader``).
    Whatever fails (a download, a full disk), no partial ISO and no
    downloaded copy stays behind: each is the size of the ramdisk.
    """
    isolinux_bin, ldlinux = isolinux_files()
    grub_cfg = None
    if uefi:
        mtools()
        try:
            grub_cfg = grub_config_text(params)
        except ValueError as exc:
            raise exception.InvalidParameterValue(
                "Node %s: the deploy kernel command line %s; remove it from "
                "kernel_append_params (driver_info or [deploy])" % (task.node.ident, exc))
    target = os.path.join(boot_files.node_dir(task), ISO_NAME)
    leftovers = [target + ".part"]
    try:
        sources = []
        for field in ("deploy_kernel", "deploy_ramdisk"):
            path, downloaded = _local_copy(task, field)
            sources.append(path)
            if downloaded:  # the ISO holds it: kept, it doubled the node's share of disk
                leftovers.append(path)
        esp = None
        if uefi:
            source, downloaded = _local_copy(task, "bootloader", CONF.deploy.bootloader)
            if downloaded:
                leftovers.append(source)
            esp = target + ".esp"
            leftovers.append(esp)
            os.makedirs(os.path.dirname(esp), exist_ok=True)
            _esp_with_grub(task, source, esp, grub_cfg)
        _write_iso(target, isolinux_bin, ldlinux, sources[0], sources[1], params,
                   esp=esp, grub_cfg=grub_cfg)
    finally:
        for path in leftovers:
            boot_files.remove(path)
    return target


def _write_iso(target, isolinux_bin, ldlinux, kernel, ramdisk, params: str,
               esp: str | None = None, grub_cfg: str | None = None) -> None:
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=VOLUME)
    iso.add_directory("/ISOLINUX", rr_name="isolinux", joliet_path="/isolinux")
    files = [(isolinux_bin, "/ISOLINUX/ISOLINUX.BIN;1", "isolinux/isolinux.bin"),
             (ldlinux, "/ISOLINUX/LDLINUX.C32;1", "isolinux/ldlinux.c32"),
             (kernel, "/VMLINUZ.;1", "vmlinuz"),
             (ramdisk, "/INITRD.IMG;1", "initrd.img")]
    texts = [(config_text(params), "/ISOLINUX/ISOLINUX.CFG;1", CONFIG_PATH)]
    if esp is not None:
        for directory in ("boot", "boot/grub", "EFI", "EFI/BOOT"):
            iso.add_directory("/" + directory.upper(), rr_name=directory.rsplit("/", 1)[-1],
                              joliet_path="/" + directory)
        files.append((esp, "/BOOT/GRUB/EFIBOOT.IMG;1", ESP_PATH))
        texts.append((grub_cfg, "/EFI/BOOT/GRUB.CFG;1", GRUB_PATH))
    handles = []
    try:
        for path, iso_path, name in files:
            handle = open(path, "rb")
            handles.append(handle)
            # the size of what was opened: a cached download may be replaced meanwhile
            iso.add_fp(handle, os.fstat(handle.fileno()).st_size, iso_path,
                       rr_name=os.path.basename(name), joliet_path="/" + name)
        for text, iso_path, name in texts:
            data = text.encode()
            iso.add_fp(io.BytesIO(data), len(data), iso_path,
                       rr_name=os.path.basename(name), joliet_path="/" + name)
        iso.add_eltorito("/ISOLINUX/ISOLINUX.BIN;1", bootcatfile="/ISOLINUX/BOOT.CAT;1",
                         rr_bootcatname="boot.cat", joliet_bootcatfile="/isolinux/boot.cat",
                         boot_load_size=4, boot_info_table=True, media_name="noemul")
        if esp is not None:  # the EFI entry, after the BIOS one, as mkisofs -eltorito-alt-boot
            iso.add_eltorito("/BOOT/GRUB/EFIBOOT.IMG;1", bootcatfile="/ISOLINUX/BOOT.CAT;1",
                             rr_bootcatname="boot.cat", joliet_bootcatfile="/isolinux/boot.cat",
                             efi=True, platform_id=EFI_PLATFORM, media_name="noemul")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        iso.write(target + ".part")
        os.replace(target + ".part", target)
    finally:
        iso.close()
        for handle in handles:
            handle.close()


def read_config(image, path: str = CONFIG_PATH) -> str:
    """isolinux.cfg (or ``path``) of a deploy ISO (a path or a file object)."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    if isinstance(image, str):
        iso.open(image)
    else:
        iso.open_fp(image)
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path="/" + path)
        return out.getvalue().decode()
    finally:
        iso.close()
