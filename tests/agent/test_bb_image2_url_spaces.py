"""Image URLs written as people name files: a space, an accented letter.

requests (IPA's client) percent-encodes them; http.client refuses a space
in the request line and cannot encode ``é``.
"""

import os

import pytest

from hwdrivers.agent import fetch
from hwdrivers.agent import image
from hwdrivers.drivers.modules import image_check
from tests.agent.helpers import MiB, image_info, read, sha
from tests.agent.servers import ImageServer

DATA = os.urandom(MiB + 17)


@pytest.fixture
def server():
    with ImageServer() as running:
        # ImageServer keys resources by the path as requested: percent-encoded
        running.add("web%20server.raw", data=DATA)
        running.add("imag%C3%A9.raw", data=DATA)
        running.add("SHA256SUMS", data=("%s  web server.raw\n" % sha(DATA)).encode())
        yield running


@pytest.mark.parametrize("name", ["web server.raw", "imagé.raw"])
def test_the_agent_fetches_an_unencoded_url(server, tmp_path, name):
    disk = tmp_path / "disk"
    disk.write_bytes(bytes(4 * MiB))
    options = image.WriteOptions(retries=0, http=fetch.HTTPOptions(timeout=10))
    info = image_info("%s/%s" % (server.url, name), DATA)
    if name == "web server.raw":
        info["os_hash_value"] = server.url + "/SHA256SUMS"
    image.write_image(info, str(disk), options)
    assert read(str(disk), 0, len(DATA)) == DATA


def test_the_conductor_check_asks_for_the_same_file(server):
    assert image_check.refusal(server.url + "/web server.raw", 5) is None
    refused = image_check.refusal(server.url + "/web server.qcow2", 5)
    assert refused and "404" in refused


def test_the_conductor_check_does_not_follow_a_redirect_to_ftp(server):
    """Nothing may connect to where the redirect points; the agent decides."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    url = server.add("moved.raw", redirect="ftp://127.0.0.1:%d/disk.raw"
                     % listener.getsockname()[1])
    try:
        assert image_check.refusal(url, 1) is None
        with pytest.raises(TimeoutError):
            listener.accept()[0].close()
    finally:
        listener.close()
