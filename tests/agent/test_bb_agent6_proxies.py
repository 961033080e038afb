"""image_info ``proxies`` and ``no_proxy``, as Ironic sends them to IPA.

Ironic fills them from driver_info ``image_http_proxy``,
``image_https_proxy`` and ``image_no_proxy`` (a caching proxy near the
racks, or the only way out of a provisioning network). The agent accepted
and ignored them: it went direct and failed where only the proxy reaches
the image. Here the ImageServer plays the proxy: it answers an
absolute-form ``GET http://host/path`` with its own ``/path``.
"""

import pytest

from tests.agent.helpers import image_info, read, sha

#: a host no resolver knows (RFC 6761): reachable only through the proxy
FAR_AWAY = "http://images.example.invalid"


def test_an_image_behind_an_http_proxy(start_agent, image_server, raw_image):
    path, data = raw_image
    image_server.add("os/image.raw", path=str(path))
    image_server.add("os/SHA256SUMS", data=("%s  image.raw\n" % sha(data)).encode())
    proxy = image_server.url.replace("http://", "http://squid:S3CRET@")
    agent = start_agent()
    doc = agent.run("standby.prepare_image", {"image_info": {
        "id": "img-1", "urls": [FAR_AWAY + "/os/image.raw"],
        "checksum": FAR_AWAY + "/os/SHA256SUMS", "proxies": {"http": proxy}}})
    assert doc["command_status"] == "SUCCEEDED", doc
    assert read(agent.disk, 0, len(data)) == data
    assert image_server.count("os/image.raw") == 1
    assert image_server.count("os/SHA256SUMS") == 1
    log = agent.log()
    assert "through proxies" in log and "S3CRET" not in log


def test_no_proxy_hosts_are_reached_directly(start_agent, image_server, raw_image):
    path, data = raw_image
    url = image_server.add("image.raw", path=str(path))
    agent = start_agent()
    doc = agent.run("standby.prepare_image", {"image_info": image_info(
        url, data, proxies={"http": "http://127.0.0.1:9"}, no_proxy="localhost,127.0.0.1")})
    assert doc["command_status"] == "SUCCEEDED", doc


@pytest.mark.parametrize("extra", [
    {"proxies": "http://proxy:3128"},
    {"proxies": {"ftp": "http://proxy:3128"}},
    {"proxies": {"http": "proxy:3128"}},
    {"no_proxy": ["127.0.0.1"]},
], ids=["not-an-object", "unknown-scheme", "not-a-url", "no-proxy-list"])
def test_malformed_proxy_settings_are_refused_naming_the_field(start_agent, extra):
    agent = start_agent()
    status, body = agent.command("standby.prepare_image", {"image_info": image_info(
        "http://127.0.0.1:9/image.raw", b"x", **extra)}, wait=False)
    assert status == 400, body
    assert "image_info %s" % next(iter(extra)) in body["faultstring"]
