"""A config drive with no room left on the disk: the agent says so, and what to change.

An image whose partitions reach into the last 64 MiB of the disk leaves no
room for the ``config-2`` partition. The error was sgdisk's own ("Could not
create partition 2 from 0 to 2047 / Unable to set partition 2's name"),
which does not say the image fills the disk.
"""

import base64
import gzip
import os
import struct
import subprocess

from tests.agent.helpers import MiB, assert_unbootable, image_info

DRIVE = base64.b64encode(gzip.compress(b"CD001" + bytes(4096))).decode()


def _fails_naming_the_room(agent, url, data):
    doc = agent.run("standby.prepare_image", {"image_info": image_info(url, data),
                                              "configdrive": DRIVE})
    assert doc["command_status"] == "FAILED", doc
    error = doc["command_error"]
    assert error["type"] == "ConfigDriveError", error
    details = error["details"]
    assert "no room for the 64 MiB config drive partition" in details, details
    assert "(96 MiB)" in details and "without a config drive" in details, details
    assert "sgdisk" not in details, details
    assert_unbootable(agent.disk)
    return details


def test_gpt_image_filling_the_disk(start_agent, image_server, tmp_path):
    image = tmp_path / "full.img"
    with open(image, "wb") as handle:
        handle.truncate(96 * MiB)
    subprocess.run(["sgdisk", "-o", "-n", "1:2048:0", "-c", "1:root", str(image)],
                   check=True, capture_output=True)
    data = image.read_bytes()
    agent = start_agent(disk_size=96 * MiB)
    details = _fails_naming_the_room(agent, image_server.add("full.img", path=str(image)),
                                     data)
    assert "partitions end at 96 MiB" in details, details


def test_mbr_image_reaching_into_the_last_64_mib(start_agent, image_server, tmp_path):
    image = bytearray(os.urandom(4 * MiB))
    image[446:510] = bytes(64)
    struct.pack_into("<B3sB3sII", image, 446, 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                     2048, 50 * MiB // 512)  # ends at 51 MiB of a 96 MiB disk
    image[510:512] = b"\x55\xaa"
    path = tmp_path / "mbr.img"
    path.write_bytes(bytes(image))
    agent = start_agent(disk_size=96 * MiB)
    details = _fails_naming_the_room(agent, image_server.add("mbr.img", path=str(path)),
                                     bytes(image))
    assert "partitions end at 51 MiB" in details, details
