"""Disk images for deploy tests: a bootable raw GPT image with a marker, an EFI
system partition image, and reading back what a deploy left on a disk file (the
config drive partition).
"""

import hashlib
import os
import re
import subprocess

from hwdrivers.drivers.modules import configdrive
from hwdrivers.testing import simulator

MiB = 1024 * 1024
_PART = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+\S+\s*(.*)$")


def make_raw_image(path: str, size: int, marker: str, seed: bytes = b"") -> str:
    """A GPT disk image of ``size`` bytes: one partition from 1 MiB holding the
    simulator's boot marker and pseudo-random data; returns its sha256."""
    if size < 4 * MiB:
        raise ValueError("a test image needs at least 4 MiB")
    with open(path, "wb") as handle:
        handle.truncate(size)
    subprocess.run(["sgdisk", "-n", "1:2048:0", "-c", "1:root", path], check=True,
                   capture_output=True)
    with open(path, "r+b") as handle:
        handle.seek(MiB)
        handle.write(simulator.MARKER + marker.encode() + b"\n")
        block = hashlib.sha256(seed + marker.encode()).digest() * 2048  # 64 KiB
        offset = 2 * MiB
        while offset < size - 2 * MiB:
            handle.seek(offset)
            handle.write(block)
            offset += 8 * MiB
    return sha256_of(path)


def make_esp(path: str, loader: bytes = b"not really shim\n", size_kib: int = 1024) -> str:
    """An EFI system partition image (FAT, mkfs.fat) holding ``loader`` as
    EFI/BOOT/BOOTX64.EFI (mtools), as an operator's ``bootloader``; returns ``path``."""
    subprocess.run(["mkfs.fat", "-C", path, str(size_kib)], check=True, capture_output=True)
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    subprocess.run(["mmd", "-i", path, "::/EFI", "::/EFI/BOOT"], check=True,
                   capture_output=True, env=env)
    loader_file = path + ".loader"
    with open(loader_file, "wb") as handle:
        handle.write(loader)
    try:
        subprocess.run(["mcopy", "-i", path, loader_file, "::/EFI/BOOT/BOOTX64.EFI"],
                       check=True, capture_output=True, env=env)
    finally:
        os.unlink(loader_file)
    return path


def sha256_of(path: str, length: int | None = None) -> str:
    digest = hashlib.sha256()
    remaining = length if length is not None else os.path.getsize(path)
    with open(path, "rb") as handle:
        while remaining > 0:
            chunk = handle.read(min(MiB, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def partitions(disk: str) -> list[dict]:
    """``[{number, start, end, name}]`` (sectors of 512 bytes) from ``sgdisk -p``."""
    out = subprocess.run(["sgdisk", "-p", disk], check=True, capture_output=True,
                         text=True).stdout
    found, in_table = [], False
    for line in out.splitlines():
        if line.startswith("Number"):
            in_table = True
            continue
        match = _PART.match(line) if in_table else None
        if match:
            found.append({"number": int(match.group(1)), "start": int(match.group(2)),
                          "end": int(match.group(3)), "name": match.group(4).strip()})
    return found


def read_config_drive(disk: str) -> dict[str, bytes]:
    """The files of the ``config-2`` partition of ``disk`` (see configdrive.read_iso)."""
    part = next((p for p in partitions(disk) if p["name"] == configdrive.LABEL), None)
    if part is None:
        raise AssertionError("%s has no %s partition" % (disk, configdrive.LABEL))
    with open(disk, "rb") as handle:
        handle.seek(part["start"] * 512)
        data = handle.read((part["end"] - part["start"] + 1) * 512)
    return configdrive.read_iso(data)
