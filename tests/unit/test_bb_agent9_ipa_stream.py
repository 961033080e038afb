"""What the conductor asks ironic-python-agent to do with a raw image: stream it.

IPA streams a raw image straight onto the disk only when image_info says
``stream_raw_images: true`` (Ironic sends ``[agent] stream_raw_images``,
true by default); without it IPA downloads the whole image into the
ramdisk's tmpfs (RAM) and converts it from there, so a raw image larger than
the machine's memory failed and every other one was written twice. Ours
never sent it, nor ``node_uuid``. hwdrivers-agent accepts and ignores both.
"""

import types

import pytest

from hwdrivers.drivers.modules import direct

UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c781"


def _task(**instance_info):
    info = {"image_source": "http://images.example/os/disk.raw",
            "image_os_hash_algo": "sha256", "image_os_hash_value": "a" * 64,
            "image_disk_format": "raw"}
    info.update(instance_info)
    node = types.SimpleNamespace(uuid=UUID, ident=UUID, instance_info=info, driver_info={})
    return types.SimpleNamespace(node=node)


def test_a_raw_image_is_streamed_by_ipa():
    image = direct.image_info(_task())
    assert image["stream_raw_images"] is True and image["disk_format"] == "raw"
    assert image["node_uuid"] == UUID


def test_hwdrivers_agent_takes_the_same_image_info():
    from hwdrivers.agent import checksum
    from hwdrivers.agent import standby

    image = direct.image_info(_task())
    checksum.validate(image, allow_md5=False)
    agent = types.SimpleNamespace(allow_md5=False)
    standby.Standby(agent).validate_prepare_image(image_info=image)


@pytest.mark.parametrize("name,source,expected", [
    ("ubuntu/22.04", None, "22.04"),
    ("/dev/sda", None, "sda"),
    ("../..", None, "disk.raw"),
    (None, "http://images.example/os/..", "image"),
    ("web-1.qcow2", None, "web-1.qcow2"),
])
def test_the_image_id_is_one_file_name_never_a_path(name, source, expected):
    """IPA stages a qcow2 at /tmp/<id>: a path there failed or escaped /tmp."""
    extra = {"image_name": name} if name else {}
    if source:
        extra["image_source"] = source
    assert direct.image_info(_task(**extra))["id"] == expected
