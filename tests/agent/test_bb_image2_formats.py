"""What the agent does with an image that is not a plain raw disk or a safe qcow2.

In-process ``image.write_image`` against a local ImageServer; the qcow2
headers are built by hand, so no qemu-img is needed (and none may run:
the options name a qemu-img that does not exist).
"""

import struct

import pytest

from hwdrivers.agent import errors
from hwdrivers.agent import fetch
from hwdrivers.agent import image
from tests.agent.helpers import MiB, image_info, read
from tests.agent.servers import ImageServer

OPTIONS = image.WriteOptions(retries=0, qemu_img="no-such-qemu-img",
                             http=fetch.HTTPOptions(timeout=10))


@pytest.fixture
def server():
    with ImageServer() as running:
        yield running


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / "disk"
    path.write_bytes(b"\x55" * (8 * MiB))
    return str(path)


def qcow2(size, backing=0, incompatible=0, pad=2 * MiB):
    """A qcow2 v3 header (what qemu-img writes first) and ``pad`` more bytes."""
    head = struct.pack(">4sIQIIQ", b"QFI\xfb", 3, backing, 8 if backing else 0, 16, size)
    head = head.ljust(72, b"\0") + struct.pack(">Q", incompatible)
    return head.ljust(pad, b"\0")


def write(server, disk, name, data, **extra):
    with pytest.raises(errors.ImageWriteError) as raised:
        image.write_image(image_info(server.add(name, data=data), data, **extra), disk,
                          OPTIONS)
    return raised.value.details


@pytest.mark.parametrize("blob,refusal", [
    (qcow2(MiB, backing=512), "a qcow2 with a backing file"),
    (qcow2(MiB, incompatible=1 << 2), "a qcow2 with an external data file"),
    (qcow2(64 * MiB), "larger than the disk: virtual size 67108864 bytes"),
])
def test_an_unwritable_qcow2_is_refused_from_its_header(server, disk, blob, refusal):
    """Before the download is staged or qemu-img runs (which would open a backing file)."""
    details = write(server, disk, "image.qcow2", blob, disk_format="qcow2")
    assert refusal in details and "nothing was written" in details
    assert "tool missing" not in details
    assert read(disk, MiB, MiB) == b"\x55" * MiB  # only the ends were zeroed, if anything


@pytest.mark.parametrize("magic,name", [
    (b"KDMV\x01\0\0\0", "vmdk"), (b"vhdxfile", "vhdx"), (b"conectix", "vhd"),
    (b"\0" * 0x40 + b"\x7f\x10\xda\xbe", "vdi"), (b"QED\0", "qed"),
    (b"LUKS\xba\xbe", "luks"),
])
@pytest.mark.parametrize("declared", [None, "raw", "qcow2"])
def test_another_container_format_is_named_and_refused(server, disk, magic, name,
                                                       declared):
    """A vmdk streamed as raw left the node active on a disk that boots nothing."""
    blob = magic.ljust(2 * MiB, b"\1")
    details = write(server, disk, "image.img", blob, disk_format=declared)
    assert "is a %s image" % name in details and "qemu-img convert" in details
    assert read(disk, MiB, MiB) == b"\x55" * MiB


@pytest.mark.parametrize("no_length", [False, True])
def test_an_empty_image_is_refused_even_when_its_checksum_matches(server, disk, no_length):
    """An interrupted upload and a checksum file made after it: zero bytes, matching."""
    url = server.add("empty.raw", data=b"", no_length=no_length)
    with pytest.raises(errors.ImageWriteError, match="is empty") as raised:
        image.write_image(image_info(url + "?temp_url_sig=S1G", b""), disk, OPTIONS)
    assert "S1G" not in raised.value.details


def test_a_qcow2_cut_inside_its_header_is_refused_cleanly(server, disk):
    """30 bytes: the magic, no virtual size to read (was a bare struct.error)."""
    details = write(server, disk, "short.qcow2", qcow2(MiB, pad=30)[:30], disk_format="qcow2")
    assert "qcow2 header is truncated (30 bytes)" in details


@pytest.mark.parametrize("magic,name", [
    (b"\x1f\x8b\x08", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh9", "bzip2"),
])
def test_a_compressed_raw_image_is_named_and_refused(server, disk, magic, name):
    """disk.raw.xz served as the image: its bytes are not a disk."""
    details = write(server, disk, "disk.raw.xz", magic.ljust(MiB + 3, b"\2"), disk_format=None)
    assert "is %s-compressed" % name in details and "publish it decompressed" in details
    assert read(disk, MiB, MiB) == b"\x55" * MiB
