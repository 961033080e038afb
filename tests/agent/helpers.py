"""Small helpers the agent tests share: hashes, disk bytes, image_info."""

import hashlib
import os

MiB = 1024 * 1024


def sha(data, algo="sha256"):
    return hashlib.new(algo, data).hexdigest()


def read(path, start=0, length=None):
    with open(path, "rb") as handle:
        handle.seek(start)
        return handle.read() if length is None else handle.read(length)


def mark_bootable(path):
    """A previous instance on the disk: MBR boot signature and a GPT header."""
    with open(path, "r+b") as handle:
        handle.seek(510)
        handle.write(b"\x55\xaa")
        handle.write(b"EFI PART")


def assert_unbootable(path):
    head = read(path, 0, MiB)
    assert head == bytes(MiB), "first MiB of the disk is not zeroed"
    size = os.path.getsize(path)
    assert read(path, size - MiB) == bytes(MiB), "last MiB of the disk is not zeroed"


def image_info(url, data, **extra):
    info = {"id": "img-1", "urls": [url], "os_hash_algo": "sha256",
            "os_hash_value": sha(data), "disk_format": "raw"}
    info.update(extra)
    return info
