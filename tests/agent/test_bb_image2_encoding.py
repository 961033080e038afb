"""An image server that compresses the body (Content-Encoding) on its own."""

import gzip
import http.server
import os
import threading

import pytest

from hwdrivers.agent import errors
from hwdrivers.agent import fetch
from hwdrivers.agent import image
from tests.agent.helpers import image_info

DATA = os.urandom(256 * 1024)
BODY = gzip.compress(DATA)


class _Gzipping(http.server.BaseHTTPRequestHandler):
    """What an object store does with an object uploaded with Content-Encoding: gzip."""

    seen: list = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Accept-Encoding"))
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture
def url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gzipping)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    _Gzipping.seen = []
    yield "http://127.0.0.1:%d/disk.raw" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_compressed_body_is_refused_naming_the_encoding(url, tmp_path):
    disk = tmp_path / "disk"
    disk.write_bytes(bytes(4 * 1024 * 1024))
    options = image.WriteOptions(retries=2, retry_interval=0, http=fetch.HTTPOptions(timeout=10))
    with pytest.raises(errors.ImageDownloadError) as raised:
        image.write_image(image_info(url, DATA), str(disk), options)
    assert "Content-Encoding: gzip" in raised.value.details
    assert _Gzipping.seen == ["identity"]  # asked not to, and not retried


def test_a_redirect_to_ftp_is_not_followed(tmp_path):
    """The conductor allows http(s) image URLs only; a redirect must not widen that."""
    from tests.agent.servers import ImageServer

    with ImageServer() as server:
        url = server.add("disk.raw", redirect="ftp://127.0.0.1:9/disk.raw")
        with pytest.raises(errors.ImageDownloadError) as raised:
            fetch.open_url(url, fetch.HTTPOptions(timeout=5), "img-1")
    assert "redirected to a ftp URL" in raised.value.details
    assert not raised.value.retryable
