"""The boot file cache probed from outside: races, odd servers, secrets.

Real HTTP servers on 127.0.0.1 (test_boot_cache's, which answers
conditional requests and counts what it sent, and odd ones here).
"""

import hashlib
import http.server
import os
import shutil
import socket
import threading
import urllib.error

import pytest

from hwdrivers.agent import fetch
from hwdrivers.common import exception
from hwdrivers.drivers.modules import boot_cache
from hwdrivers.drivers.modules import boot_iso
from tests.unit.test_boot_cache import _build
from tests.unit.test_boot_cache import _task
from tests.unit.test_boot_cache import server  # noqa: F401 (fixture)
from tests.unit.test_bb_boot7_boot_iso import _iso_file
from tests.unit.test_bb_boot7_boot_iso import root  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("root")


def test_a_sweep_leaves_a_file_revalidated_while_it_waited_for_the_lock(
        server, config, monkeypatch):  # noqa: F811
    """The sweep judged a file by its age before taking its lock: a build
    that revalidated it meanwhile (another thread, or another conductor on
    the same state path) got its path back, and the sweep then removed the
    file the build was about to open."""
    config(deploy__boot_file_cache_ttl=3600)
    _build(1, server)
    ramdisk = server.url + "/r"
    data = boot_cache._paths(hashlib.sha256(ramdisk.encode()).hexdigest())[0]
    old = 1_000_000_000
    os.utime(data, (old, old))  # the ramdisk only: unused for years
    real_flock = boot_cache.fcntl.flock
    handed = []

    class _Fcntl:  # before the sweep's lock attempt, a build revalidates the ramdisk
        LOCK_EX, LOCK_NB, LOCK_UN = (boot_cache.fcntl.LOCK_EX, boot_cache.fcntl.LOCK_NB,
                                     boot_cache.fcntl.LOCK_UN)

        @staticmethod
        def flock(handle, flags):
            if flags & boot_cache.fcntl.LOCK_NB and not handed:
                handed.append(None)
                builder = threading.Thread(target=lambda: handed.append(boot_cache.get(
                    ramdisk, fetch.request_for(ramdisk), 5, ramdisk)))
                builder.start()
                builder.join(30)
            return real_flock(handle, flags)

    monkeypatch.setattr(boot_cache, "fcntl", _Fcntl)
    boot_cache.sweep()
    monkeypatch.undo()
    assert handed == [None, data] and server.sent["/r", 304] == 1
    # the file the build was handed, just checked with the server, is still there
    assert os.path.isfile(data)


class _Odd(http.server.BaseHTTPRequestHandler):
    """``/304``: 304 to any request; ``/weak``: a weak ETag;
    ``/moved?sig=..``: a redirect to ``/weak``."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("If-None-Match")))
        if self.path.startswith("/304"):
            self.send_response(304)
            self.end_headers()
            return
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "/weak")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.headers.get("If-None-Match") == 'W/"1"':
            self.send_response(304)
            self.end_headers()
            return
        body = b"w" * 5000
        self.send_response(200)
        self.send_header("ETag", 'W/"1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def odd():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    httpd.seen = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd, path):
    return "http://127.0.0.1:%d%s" % (httpd.server_address[1], path)


def test_a_304_without_a_cached_copy_is_an_error_naming_no_secret(odd):
    url = _url(odd, "/304?temp_url_sig=SECRETSIG").replace("http://", "http://u:PW@")
    with pytest.raises(exception.DriverConnectionError) as err:
        boot_iso.build(_task(1, url, url), "")
    assert "304" in str(err.value)
    assert "SECRETSIG" not in str(err.value) and "PW" not in str(err.value)


def test_weak_etags_and_redirects_revalidate_and_keep_secrets_out(odd):
    url = _url(odd, "/moved?temp_url_sig=SECRETSIG")
    for number in (1, 2):
        iso = boot_iso.build(_task(number, url, url), "")
        assert _iso_file(iso, "initrd.img") == b"w" * 5000
    # the second build asked the redirect's target with the weak validator
    assert ("/weak", 'W/"1"') in odd.seen
    for name in os.listdir(boot_cache.directory()):
        assert "SECRETSIG" not in name
        if name.endswith(".json"):
            with open(os.path.join(boot_cache.directory(), name)) as handle:
                assert "SECRETSIG" not in handle.read()


def test_a_cache_directory_removed_between_builds_is_made_again(server):  # noqa: F811
    _build(1, server)
    shutil.rmtree(boot_cache.directory())
    iso = _build(2, server)
    assert _iso_file(iso, "initrd.img") == server.files["/r"]


def _req(url):
    return fetch.request_for(url)


def test_304_to_an_unconditional_request_is_raised(odd):
    with pytest.raises(urllib.error.HTTPError):
        boot_cache.get(_url(odd, "/304"), _req(_url(odd, "/304")), 5, "x")


def test_a_redirect_to_ftp_is_refused_without_connecting(server):  # noqa: F811
    """urlopen followed a server's redirect to ``ftp://`` (the agent refuses
    one): the conductor connected where the server chose and logged in as
    anonymous."""
    ftp = socket.create_server(("127.0.0.1", 0))
    ftp.settimeout(5)
    seen = []

    def answer():
        try:
            peer, _ = ftp.accept()
        except OSError:
            return
        with peer:
            seen.append("connected")
            peer.sendall(b"220 ready\r\n")
            peer.settimeout(5)
            seen.append(peer.recv(100))

    listener = threading.Thread(target=answer, daemon=True)
    listener.start()
    moved = "ftp://127.0.0.1:%d/r" % ftp.getsockname()[1]

    class _Moved(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", moved)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Moved)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/r" % httpd.server_address[1]
    try:
        with pytest.raises(exception.DriverConnectionError, match="redirected to a ftp URL"):
            boot_iso.build(_task(1, server.url + "/k", url), "")
    finally:
        httpd.shutdown()
        httpd.server_close()
        ftp.shutdown(socket.SHUT_RDWR)  # wakes accept() at once
        listener.join(10)
        ftp.close()
    assert seen == []


class _CarelessAuth(http.server.BaseHTTPRequestHandler):
    """Answers 304 to a matching If-None-Match before looking at credentials
    (as a cache in front of an authenticating server may); 401 otherwise
    unless the credentials are ops:s3cret."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.end_headers()
            return
        if self.headers.get("Authorization") != "Basic b3BzOnMzY3JldA==":
            self.send_error(401)
            return
        self.send_response(200)
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"abc")


def test_a_wrong_password_is_not_served_the_copy_fetched_with_the_right_one():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CarelessAuth)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        good = "http://ops:s3cret@127.0.0.1:%d/r" % httpd.server_address[1]
        bad = good.replace("s3cret", "guess")
        with open(boot_cache.get(good, _req(good), 5, "r"), "rb") as handle:
            assert handle.read() == b"abc"
        # keyed by the credentials: the guess asks unconditionally and gets its 401
        with pytest.raises(urllib.error.HTTPError, match="401"):
            boot_cache.get(bad, _req(bad), 5, "r")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_unusable_cache_directory_is_the_conductors_to_fix(server, tmp_path):  # noqa: F811
    """A file where the cache directory goes was reported as a download
    failure ("check the URL, and that this conductor reaches its server"),
    a retryable connection error."""
    os.makedirs(os.path.dirname(boot_cache.directory()), exist_ok=True)
    with open(boot_cache.directory(), "w") as handle:
        handle.write("not a directory")
    with pytest.raises(exception.DriverSettingsError) as err:
        _build(1, server)
    message = str(err.value)
    assert "boot file cache %s cannot be used" % boot_cache.directory() in message
    assert "boot_file_cache_ttl = 0" in message and "reaches its server" not in message
    assert server.sent == {}, message
