"""instance_info errors quote a refused URL without its credentials or signature.

The 400, ``last_error`` and the logs all carry these messages; an image URL
refused for its scheme or port still holds ``user:password@`` or a temporary
URL's signature.
"""

import pytest

from hwdrivers.drivers.modules import direct

GOOD = {"image_source": "http://images.example/disk.raw",
        "image_os_hash_algo": "sha256", "image_os_hash_value": "ab" * 32}


@pytest.mark.parametrize("field,value", [
    ("image_source", "ftp://deployer:S3CRET@images.example/disk.raw"),
    ("image_source", "http://deployer:S3CRET@images.example:99999/disk.raw"),
    ("image_source", "https://images.example:0x50/disk.raw?temp_url_sig=S3CRET"),
    ("image_source", "http://deployer:S3CRET@[::1/disk.raw"),
    ("image_os_hash_value", "ftp://deployer:S3CRET@images.example/SHA256SUMS"),
    ("image_os_hash_value", "http://images.example:99999/SUMS?temp_url_sig=S3CRET"),
])
def test_a_refused_url_is_named_without_its_secret(field, value):
    [error] = direct.instance_info_errors(dict(GOOD, **{field: value}))
    assert field in error
    assert "S3CRET" not in error and "deployer" not in error


def test_the_refused_url_is_still_named():
    [error] = direct.instance_info_errors(dict(
        GOOD, image_source="ftp://deployer:S3CRET@images.example/disk.raw?x=1"))
    assert "'ftp://images.example/disk.raw'" in error


def test_a_hash_algorithm_in_capitals_is_the_same_algorithm():
    """Ironic lowercases image_os_hash_algo; IPA's hashlib takes either case."""
    info = dict(GOOD, image_os_hash_algo=" SHA256")
    assert direct.instance_info_errors(info) == []

    class Task:
        class node:
            uuid = "n-1"
            driver_info = {}
            instance_info = info
    assert direct.image_info(Task)["os_hash_algo"] == "sha256"


def test_a_hash_value_without_its_algorithm_says_to_set_it():
    [error] = direct.instance_info_errors(dict(GOOD, image_os_hash_algo=None))
    assert "image_os_hash_algo is missing" in error and "None" not in error
