"""The config drive: decode it, and write it to a ``config-2`` partition at the disk's end.

The conductor sends the config drive as IPA expects it: a gzip-compressed,
base64-encoded ISO 9660 image, or an http(s) URL of such a blob (content
that is not base64 is taken as the binary image, as IPA does). The agent
does not build it. Like IPA it makes a partition of 64 MiB at the end of
a GPT disk (``sgdisk -n 0:-64M:0``; the image's backup GPT is first moved
to the disk's end with ``sgdisk -e``), names it ``config-2`` and copies
the ISO to its start; a disk that already has a ``config-2`` partition
reuses it. MBR disks are not handled yet (see doc/agent.md).
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


def decode(configdrive: str, http: fetch.HTTPOptions) -> bytes:
    """The config drive image from IPA's ``configdrive`` parameter."""
    if not isinstance(configdrive, str) or not configdrive:
        raise errors.InvalidCommandParamsError(
            "configdrive must be a non-empty string: base64 of a gzip-compressed ISO, or "
            "an http(s) URL of one")
    if configdrive.startswith(("http://", "https://")):
        data = fetch.fetch_small(configdrive, http, "configdrive", MAX_ENCODED)
    else:
        data = configdrive.encode("ascii", "replace")
    try:
        compressed = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        compressed = None
    if compressed is None or not compressed.startswith(b"\x1f\x8b"):
        if configdrive.startswith(("http://", "https://")) and compressed is None:
            return _bounded(data)  # binary content behind a URL, as IPA accepts
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


def write(device: str, image: bytes) -> dict:
    """Put ``image`` on the ``config-2`` partition of ``device``; returns that partition."""
    if shutil.which("sgdisk") is None:
        raise errors.ToolMissingError("sgdisk", "gdisk", "create the config drive partition")
    if not has_gpt(device):
        raise errors.ConfigDriveError(
            "%s has no GPT partition table after the image was written; the agent makes "
            "the config drive partition on GPT disks only (MBR images: not supported yet)"
            % device)
    sector, parts = partitions(device)
    existing = [p for p in parts if p["name"] == LABEL]
    if existing:
        part = existing[0]
        LOG.info("config drive: reusing partition %d of %s", part["number"], device)
    else:
        # One run (sgdisk pauses a second after each write): the backup GPT moves
        # to the end of this disk (-e), then the partition takes the last 64 MiB.
        _sgdisk("-e", "-n", "0:-64M:0", "-c", "0:%s" % LABEL, device)
        sector, parts = partitions(device)
        part = next(p for p in parts if p["name"] == LABEL)
    start = part["start"] * sector
    size = (part["end"] - part["start"] + 1) * sector
    if len(image) > size:
        raise errors.ConfigDriveError("config drive (%d bytes) does not fit partition %d "
                                      "(%d bytes)" % (len(image), part["number"], size))
    fd = disk.open_for_write(device)
    try:
        os.pwrite(fd, image, start)
        os.fsync(fd)
    finally:
        os.close(fd)
    if stat.S_ISBLK(os.stat(device).st_mode) and shutil.which("partx"):
        subprocess.run(["partx", "-u", device], capture_output=True)
    LOG.info("config drive (%d bytes) written to partition %d (%s) of %s", len(image),
             part["number"], LABEL, device)
    return {"number": part["number"], "offset": start, "size": size}
