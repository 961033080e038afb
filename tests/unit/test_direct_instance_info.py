"""The direct deploy's instance_info check: what the agent could never fetch is refused first."""

import pytest

from hwdrivers.drivers.modules import direct

GOOD = {"image_os_hash_algo": "sha256", "image_os_hash_value": "ab" * 32}


@pytest.mark.parametrize("source", [
    "http://", "https://", "http://[::1", "http://host:99999/disk.raw", "ftp://h/disk.raw",
    "notaurl", "http:///disk.raw",
])
def test_an_image_source_the_agent_cannot_fetch_is_refused(source):
    [error] = direct.instance_info_errors(dict(GOOD, image_source=source))
    assert "image_source" in error and "http(s) URL with a host" in error


@pytest.mark.parametrize("source", [
    "http://images.example/disk.raw", "https://[::1]:8443/disk.qcow2", "http://10.0.0.1:8080/x",
])
def test_a_fetchable_image_source_passes(source):
    assert direct.instance_info_errors(dict(GOOD, image_source=source)) == []
