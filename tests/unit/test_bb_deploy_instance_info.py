"""instance_info values the agent would refuse are refused by the conductor, before power-on.

Each of these used to pass validation, power the node on, boot the ramdisk
and only then fail in deploy.write_image with the agent's HTTP 400.
"""

import pytest

from hwdrivers.drivers.modules import direct

SOURCE = {"image_source": "http://images.example/web.img"}


@pytest.mark.parametrize("info, words", [
    ({"image_checksum": "0" * 32}, ["image_checksum", "MD5", "image_os_hash_value"]),
    ({"image_checksum": "0" * 40}, ["image_checksum", "40 hex digits", "64: sha256"]),
    ({"image_checksum": "z" * 64}, ["image_checksum", "neither a hex digest"]),
    ({"image_checksum": 5}, ["image_checksum", "neither a hex digest"]),
    ({"image_os_hash_algo": "sha256", "image_os_hash_value": "xyz"},
     ["image_os_hash_value", "neither a hex digest"]),
    ({"image_os_hash_algo": "sha512", "image_os_hash_value": "a" * 64},
     ["image_os_hash_value", "64 hex digits", "sha512 digest has 128"]),
])
def test_a_checksum_the_agent_would_refuse_is_named(info, words):
    errors = direct.instance_info_errors(dict(SOURCE, **info))
    assert len(errors) == 1, errors
    for word in words:
        assert word in errors[0], errors[0]


@pytest.mark.parametrize("info", [
    {"image_checksum": "A" * 64}, {"image_checksum": "a" * 96}, {"image_checksum": "a" * 128},
    {"image_checksum": "https://images.example/SHA256SUMS"},
    {"image_os_hash_algo": "sha384", "image_os_hash_value": "b" * 96},
    {"image_os_hash_algo": "sha256", "image_os_hash_value": "http://i.example/SHA256SUMS"},
    # with os_hash_* given, a legacy checksum is not what the agent gets
    {"image_os_hash_algo": "sha256", "image_os_hash_value": "c" * 64, "image_checksum": "x"},
])
def test_checksums_the_agent_takes_pass(info):
    assert direct.instance_info_errors(dict(SOURCE, **info)) == []


GOOD = dict(SOURCE, image_os_hash_algo="sha256", image_os_hash_value="d" * 64)


@pytest.mark.parametrize("extra, words", [
    ({"image_type": "partition"}, ["image_type 'partition'", "whole-disk images only"]),
    ({"kernel": "http://i.example/vmlinuz", "ramdisk": "http://i.example/initrd"},
     ["kernel and ramdisk", "partition image"]),
])
def test_a_partition_image_is_refused_not_written_as_a_disk(extra, words):
    # Before: accepted, written as a whole disk, and the node reported active.
    [error] = direct.instance_info_errors(dict(GOOD, **extra))
    for word in words:
        assert word in error, error


def test_a_whole_disk_image_type_passes():
    assert direct.instance_info_errors(dict(GOOD, image_type="whole-disk")) == []
    assert direct.instance_info_errors(dict(
        GOOD, image_type="whole-disk", kernel="http://k", ramdisk="http://r")) == []
