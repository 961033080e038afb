"""image_info ``proxies`` and ``no_proxy``, as Ironic sends them to IPA.

Ironic fills them from driver_info ``image_http_proxy``,
``image_https_proxy`` and ``image_no_proxy`` (a caching proxy near the
racks, or the only way out of a provisioning network). The agent accepted
and ignored them: it went direct and failed where only the proxy reaches
the image. Here the ImageServer plays the proxy: it answers an
absolute-form ``GET http://host/path`` with its own ``/path``.
"""

import base64
import socket
import threading

import pytest

from tests.agent import servers
from tests.agent.helpers import image_info, read, sha
from tests.fixtures import redfish_emulator

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


class _ConnectProxy:
    """A forward proxy for https: ``CONNECT host:port``, then bytes both ways.

    Every host is 127.0.0.1 to it (only it knows the image's host name);
    it records what it was asked to connect to and the Proxy-Authorization.
    """

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.connects, self.auth = [], []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client):
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = client.recv(4096)
                if not piece:
                    return
                head += piece
            lines = head.split(b"\r\n")
            target = lines[0].split()[1].decode()
            self.connects.append(target)
            self.auth.extend(line.split(b":", 1)[1].strip().decode() for line in lines
                             if line.lower().startswith(b"proxy-authorization:"))
            port = int(target.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pump = threading.Thread(target=self._pump, args=(upstream, client),
                                        daemon=True)
                pump.start()
                self._pump(client, upstream)
                pump.join(timeout=10)

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.sock.close()


def test_an_https_image_through_the_proxy_tunnel(start_agent, raw_image, tmp_path):
    cert, key = redfish_emulator._write_certificate(str(tmp_path))
    path, data = raw_image
    proxy = _ConnectProxy()
    try:
        with servers.ImageServer(tls=(cert, key)) as https:
            https.add("image.raw", path=str(path))
            url = "https://images.example.invalid:%d/image.raw" % https.port
            agent = start_agent(extra=["--insecure"])  # the certificate names 127.0.0.1
            doc = agent.run("standby.prepare_image", {"image_info": image_info(
                url, data,
                proxies={"https": proxy.url.replace("http://", "http://squid:S3CRET@")})})
            assert doc["command_status"] == "SUCCEEDED", doc
            assert https.count("image.raw") == 1
            assert proxy.connects == ["images.example.invalid:%d" % https.port]
            assert proxy.auth == ["Basic " + base64.b64encode(b"squid:S3CRET").decode()]
            assert read(agent.disk, 0, len(data)) == data
    finally:
        proxy.close()
