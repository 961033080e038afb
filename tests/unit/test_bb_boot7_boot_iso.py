"""The deploy ISO of redfish-virtual-media, with its kernel and ramdisk given as URLs.

Served by a real HTTP server on 127.0.0.1. A server that closes the
connection early ends the body without an error from urllib: the truncated
ramdisk went into the ISO, and the machine panicked on it.
"""

import http.server
import io
import pathlib
import threading
import types

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import boot_cache
from hwdrivers.drivers.modules import boot_iso

UUID = "4b4e1f51-7d42-4a0e-9b59-0c5a3f4b6a11"
KERNEL = b"k" * 70000
RAMDISK = b"r" * 300000


class _Files(http.server.BaseHTTPRequestHandler):
    """``/k`` and ``/r`` in full; ``/short`` announces 300000 bytes and sends 1000."""

    def do_GET(self):
        body = {"/k": KERNEL, "/r": RAMDISK, "/short": RAMDISK}.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:1000] if self.path == "/short" else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def base_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def root(config, tmp_path):
    config(deploy__http_root=str(tmp_path / "httpboot"))
    try:
        boot_iso.isolinux_files()
    except exception.DriverToolMissing:
        pytest.skip("isolinux is not installed")
    return tmp_path / "httpboot"


def _task(kernel, ramdisk):
    node = types.SimpleNamespace(uuid=UUID, ident=UUID, driver_info={
        "deploy_kernel": kernel, "deploy_ramdisk": ramdisk})
    return types.SimpleNamespace(node=node)


def _iso_file(path, name):
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path="/" + name)
        return out.getvalue()
    finally:
        iso.close()


def test_a_truncated_download_fails_naming_the_field_and_leaves_nothing(root, base_url):
    task = _task(base_url + "/k", base_url + "/short")
    with pytest.raises(exception.DriverConnectionError) as caught:
        boot_iso.build(task, "ipa-api-url=http://192.0.2.1:6385")
    assert "deploy_ramdisk" in str(caught.value)
    assert "1000 of the 300000 bytes" in str(caught.value)
    node_dir = root / UUID
    assert not node_dir.exists() or list(node_dir.iterdir()) == []  # no .part, no ISO
    cache = pathlib.Path(boot_cache.directory())
    assert not [p.name for p in cache.iterdir() if p.name.endswith(".part")]


def test_the_iso_holds_the_downloads_which_are_then_removed(root, base_url):
    iso = boot_iso.build(_task(base_url + "/k", base_url + "/r"), "ipa-debug=1")
    assert sorted(p.name for p in (root / UUID).iterdir()) == [boot_iso.ISO_NAME]
    assert _iso_file(iso, "vmlinuz") == KERNEL
    assert _iso_file(iso, "initrd.img") == RAMDISK
    assert "ipa-debug=1" in boot_iso.read_config(iso)


@pytest.mark.parametrize("url, error", [
    ("http://[::1/r", exception.DriverSettingsError),  # no retry will mend it
    ("http://127.0.0.1:1/r", exception.DriverConnectionError)])
def test_a_bad_url_is_a_driver_error_naming_the_field(root, url, error):
    with pytest.raises(error, match="deploy_kernel"):
        boot_iso.build(_task(url, url), "")


class _AuthFiles(_Files):
    """The same files, for ``ops:s3cret`` only (Basic authentication)."""

    def do_GET(self):
        import base64

        wanted = "Basic " + base64.b64encode(b"ops:s3cret").decode()
        if self.headers.get("Authorization") != wanted:
            self.send_error(401)
            return
        super().do_GET()


@pytest.fixture
def auth_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AuthFiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_credentials_in_the_url_are_sent_as_the_agent_sends_them(root, auth_url):
    """urllib took user:password@ for part of the host: 'not a valid URL'."""
    base = "http://ops:s3cret@" + auth_url
    iso = boot_iso.build(_task(base + "/k", base + "/r"), "")
    assert _iso_file(iso, "initrd.img") == RAMDISK


def test_credentials_never_appear_in_the_error(root, auth_url):
    base = "http://ops:wrong-pass@" + auth_url
    with pytest.raises(exception.DriverConnectionError) as caught:
        boot_iso.build(_task(base + "/k?sig=tok3n", base + "/r"), "")
    message = str(caught.value)
    assert "401" in message and "http://%s/k" % auth_url in message
    assert "wrong-pass" not in message and "tok3n" not in message
