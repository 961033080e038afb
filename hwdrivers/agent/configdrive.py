"""The config drive: decode it, and write it to a ``config-2`` partition at the disk's end.

The conductor sends the config drive as IPA expects it: a gzip-compressed,
base64-encoded ISO 9660 image, or an http(s) URL of such a blob (content
that is not strictly base64 is taken as the binary image, as IPA means to;
a gzipped one is unzipped). The agent does not build it. Like IPA it makes
a partition of 64 MiB at the end of a GPT disk (``sgdisk -n 0:-64M:0``;
the image's backup GPT is first moved to the disk's end with ``sgdisk
-e``), names it ``config-2`` and copies the ISO to its start; a disk that
already has a ``config-2`` partition reuses it. On an MBR disk the agent
adds a primary partition in the last 64 MiB itself (one table entry, below
the 2 TiB an MBR can address), as IPA does with parted; a partition already
holding a ``config-2`` ISO is reused.
"""

import base64
import binascii
import gzip
import io
import logging
import os
import re
import shutil
import stat
import struct
import subprocess

from hwdrivers.agent import disk
from hwdrivers.agent import errors
from hwdrivers.agent import fetch

LOG = logging.getLogger(__name__)

MAX_SIZE = 64 * disk.MiB
LABEL = "config-2"
#: an inline or downloaded blob: base64 of gzip of at most MAX_SIZE, with slack
MAX_ENCODED = 2 * MAX_SIZE

_PART_LINE = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+\S+\s*(.*)$")
_SECTOR = re.compile(r"Sector size \(logical\):\s*(\d+)|Logical sector size:\s*(\d+)")


def _strict_base64(data: bytes) -> bytes | None:
    """``data`` decoded as base64 (line breaks allowed), or None if it is not base64.

    Strict: a lenient decode skips every byte outside the alphabet, so
    nearly half of binary ISOs "decoded" into garbage and were refused as
    not gzip, instead of being taken as the binary image they are.
    """
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def decode(configdrive: str, http: fetch.HTTPOptions) -> bytes:
    """The config drive image from IPA's ``configdrive`` parameter.

    Inline: base64 of the gzipped ISO. Behind a URL, also the gzipped or
    the plain ISO itself (binary content, as IPA takes it).
    """
    if not isinstance(configdrive, str) or not configdrive:
        raise errors.InvalidCommandParamsError(
            "configdrive must be a non-empty string: base64 of a gzip-compressed ISO, or "
            "an http(s) URL of one")
    is_url = configdrive.startswith(("http://", "https://"))
    if is_url:
        data = fetch.fetch_small(configdrive, http, "configdrive", MAX_ENCODED)
    else:
        data = configdrive.encode("ascii", "replace")
    compressed = _strict_base64(data)
    if compressed is None and is_url:
        compressed = data  # binary content behind a URL
    if compressed is None or not compressed.startswith(b"\x1f\x8b"):
        if compressed is data:
            return _bounded(data)  # the ISO itself
        raise errors.ConfigDriveError(
            "configdrive is not base64 of gzip-compressed data (give the ISO gzipped "
            "then base64-encoded, or a URL of that)")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(compressed)) as stream:
            image = stream.read(MAX_SIZE + 1)
    except (OSError, EOFError) as exc:
        raise errors.ConfigDriveError("configdrive gzip data is corrupt: %s" % exc)
    return _bounded(image)


def _bounded(image: bytes) -> bytes:
    if len(image) > MAX_SIZE:
        raise errors.ConfigDriveError("configdrive is larger than the 64 MiB limit")
    if not image:
        raise errors.ConfigDriveError("configdrive is empty")
    return image


def has_gpt(device: str) -> bool:
    """A GPT header ("EFI PART") at LBA 1, for 512- or 4096-byte sectors."""
    with open(device, "rb") as dev:
        for sector in (512, 4096):
            dev.seek(sector)
            if dev.read(8) == b"EFI PART":
                return True
    return False


def _sgdisk(*args: str) -> str:
    try:
        proc = subprocess.run(["sgdisk", *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
    except FileNotFoundError:
        raise errors.ToolMissingError("sgdisk", "gdisk", "create the config drive partition")
    if proc.returncode != 0:
        raise errors.ConfigDriveError("sgdisk %s failed (exit %d): %s"
                                      % (" ".join(args), proc.returncode,
                                         (proc.stderr or proc.stdout).strip()))
    return proc.stdout


def partitions(device: str) -> tuple[int, list[dict]]:
    """(logical sector size, [{number, start, end, name}]) from ``sgdisk -p``."""
    out = _sgdisk("-p", device)
    sector = 512
    match = _SECTOR.search(out)
    if match:
        sector = int(match.group(1) or match.group(2))
    found = []
    in_table = False
    for line in out.splitlines():
        if line.startswith("Number"):
            in_table = True
            continue
        match = _PART_LINE.match(line) if in_table else None
        if match:
            found.append({"number": int(match.group(1)), "start": int(match.group(2)),
                          "end": int(match.group(3)), "name": match.group(4).strip()})
    return sector, found


def _no_room(device: str, parts: list[dict], sector: int) -> str:
    """Why a config drive partition does not fit, and what to change.

    sgdisk's own words ("Could not create partition 2 from 0 to 2047") do
    not say the image fills the disk.
    """
    last = max((p["end"] + 1 for p in parts), default=0) * sector
    return ("no room for the 64 MiB config drive partition at the end of %s (%d MiB): the "
            "image's partitions end at %d MiB; deploy onto a disk at least 64 MiB larger "
            "than the image's partitions (or a smaller image), or without a config drive"
            % (device, disk.size_of(device) // disk.MiB, -(-last // disk.MiB)))


def _gpt_partition(device: str) -> dict:
    """The ``config-2`` partition of a GPT disk, made if missing (sgdisk)."""
    if shutil.which("sgdisk") is None:
        raise errors.ToolMissingError("sgdisk", "gdisk", "create the config drive partition")
    sector, parts = partitions(device)
    existing = [p for p in parts if p["name"] == LABEL]
    if existing:
        part = existing[0]
        LOG.info("config drive: reusing GPT partition %d of %s", part["number"], device)
    else:
        # One run (sgdisk pauses a second after each write): the backup GPT moves
        # to the end of this disk (-e), then the partition takes the last 64 MiB.
        try:
            _sgdisk("-e", "-n", "0:-64M:0", "-c", "0:%s" % LABEL, device)
        except errors.ConfigDriveError as exc:
            if "Could not create partition" not in str(exc):
                raise
            raise errors.ConfigDriveError(_no_room(device, parts, sector)) from None
        sector, parts = partitions(device)
        part = next(p for p in parts if p["name"] == LABEL)
    return {"number": part["number"], "offset": part["start"] * sector,
            "size": (part["end"] - part["start"] + 1) * sector, "table": "gpt"}


MBR_ENTRY = struct.Struct("<B3sB3sII")  # status, CHS first, type, CHS last, LBA, sectors
MBR_SECTOR = 512
MBR_LIMIT = 2 ** 32  # sectors an MBR entry can address
ALIGN = disk.MiB // MBR_SECTOR
PROTECTIVE = 0xEE
LINUX = 0x83


def iso_label(device: str, offset: int) -> str | None:
    """The ISO 9660 volume label at ``offset`` (cloud-init finds ``config-2`` by it)."""
    with open(device, "rb") as dev:
        dev.seek(offset + 32768)
        descriptor = dev.read(72)
    if descriptor[1:6] != b"CD001":
        return None
    return descriptor[40:72].decode("ascii", "replace").strip()


def _mbr_partition(device: str) -> dict:
    """The config drive partition of an MBR disk: a new primary one in the last 64 MiB.

    Written directly (one 16-byte entry), as parted would: the disk's other
    partitions are untouched. A partition already holding a ``config-2``
    ISO is reused.
    """
    with open(device, "rb") as dev:
        head = dev.read(MBR_SECTOR)
    if head[510:512] != b"\x55\xaa":
        raise errors.ConfigDriveError(
            "%s has no partition table after the image was written (neither GPT nor MBR); "
            "a config drive needs a whole-disk image with one" % device)
    entries = [dict(zip(("status", "chs1", "type", "chs2", "start", "sectors"),
                        MBR_ENTRY.unpack_from(head, 446 + 16 * i)), slot=i)
               for i in range(4)]
    used = [e for e in entries if e["type"]]
    if any(e["type"] == PROTECTIVE for e in used):
        raise errors.ConfigDriveError("%s has a protective MBR but no GPT header; the image's "
                                      "partition table is damaged" % device)
    for entry in used:
        if iso_label(device, entry["start"] * MBR_SECTOR) == LABEL:
            LOG.info("config drive: reusing MBR partition %d of %s", entry["slot"] + 1,
                     device)
            return {"number": entry["slot"] + 1, "offset": entry["start"] * MBR_SECTOR,
                    "size": entry["sectors"] * MBR_SECTOR, "table": "msdos"}
    free = [e for e in entries if not e["type"]]
    if not free:
        raise errors.ConfigDriveError("%s uses MBR and already has 4 primary partitions; "
                                      "there is no slot for the config drive" % device)
    end = min(disk.size_of(device) // MBR_SECTOR, MBR_LIMIT)
    start = (end - MAX_SIZE // MBR_SECTOR) // ALIGN * ALIGN
    last_used = max((e["start"] + e["sectors"] for e in used), default=1)
    if start < last_used:
        raise errors.ConfigDriveError(_no_room(
            device, [{"end": e["start"] + e["sectors"] - 1} for e in used], MBR_SECTOR))
    slot = free[0]["slot"]
    entry = MBR_ENTRY.pack(0, b"\xfe\xff\xff", LINUX, b"\xfe\xff\xff", start, end - start)
    fd = disk.open_for_write(device)
    try:
        os.pwrite(fd, entry, 446 + 16 * slot)
    finally:
        os.close(fd)
    return {"number": slot + 1, "offset": start * MBR_SECTOR,
            "size": (end - start) * MBR_SECTOR, "table": "msdos"}


def write(device: str, image: bytes) -> dict:
    """Put ``image`` on the config drive partition of ``device``; returns that partition."""
    part = _gpt_partition(device) if has_gpt(device) else _mbr_partition(device)
    if len(image) > part["size"]:
        raise errors.ConfigDriveError("config drive (%d bytes) does not fit partition %d "
                                      "(%d bytes)" % (len(image), part["number"],
                                                      part["size"]))
    fd = disk.open_for_write(device)
    try:
        os.pwrite(fd, image, part["offset"])
        os.fsync(fd)
    finally:
        os.close(fd)
    if stat.S_ISBLK(os.stat(device).st_mode) and shutil.which("partx"):
        subprocess.run(["partx", "-u", device], capture_output=True)
    LOG.info("config drive (%d bytes) written to %s partition %d of %s", len(image),
             part["table"], part["number"], device)
    return part
