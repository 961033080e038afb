"""The conductor's cache of deploy kernels and ramdisks fetched for virtual-media ISOs.

Served by a real HTTP server on 127.0.0.1 that answers conditional requests
as web servers do (ETag / If-None-Match, Last-Modified / If-Modified-Since,
304) and counts what it sent. Before the cache, every ISO build downloaded
the kernel and ramdisk again: a fleet deploy fetched the same ramdisk once
per node, and every retried deploy once more.
"""

import base64
import collections
import http.server
import json
import os
import stat
import threading
import time
import types

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import boot_cache
from hwdrivers.drivers.modules import boot_iso
from tests.unit.test_bb_boot7_boot_iso import _iso_file
from tests.unit.test_bb_boot7_boot_iso import root  # noqa: F401 (fixture)

#: every test builds ISOs under the http_root of test_bb_boot7_boot_iso's fixture
pytestmark = pytest.mark.usefixtures("root")

KERNEL = b"k" * 50000


class _Server(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = {"/k": KERNEL, "/r": b"r" * 200000}
        self.validators = {"etag", "last_modified"}
        self.sent = collections.Counter()  # (path, status)
        self.fail = False
        self.version = 1

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        body = server.files.get(self.path)
        if body is None or server.fail:
            server.sent[self.path, 500 if server.fail else 404] += 1
            self.send_error(500 if server.fail else 404)
            return
        wanted = "Basic " + base64.b64encode(b"ops:s3cret").decode()
        if "@" in self.headers.get("X-Test-Auth", "") or (
                self.headers.get("Authorization") not in (None, wanted)):
            server.sent[self.path, 401] += 1
            self.send_error(401)
            return
        etag = '"v%d"' % server.version
        modified = "Tue, 01 Dec 2026 00:00:%02d GMT" % server.version
        fresh = (("etag" in server.validators
                  and self.headers.get("If-None-Match") == etag)
                 or ("last_modified" in server.validators
                     and self.headers.get("If-Modified-Since") == modified))
        if fresh:
            server.sent[self.path, 304] += 1
            self.send_response(304)
            self.end_headers()
            return
        server.sent[self.path, 200] += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        if "etag" in server.validators:
            self.send_header("ETag", etag)
        if "last_modified" in server.validators:
            self.send_header("Last-Modified", modified)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    httpd = _Server()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _task(number, kernel, ramdisk):
    uuid = "4b4e1f51-7d42-4a0e-9b59-0c5a3f4b6a%02d" % number
    node = types.SimpleNamespace(uuid=uuid, ident=uuid, driver_info={
        "deploy_kernel": kernel, "deploy_ramdisk": ramdisk})
    return types.SimpleNamespace(node=node)


def _build(number, server, base=None):
    base = base or server.url
    return boot_iso.build(_task(number, base + "/k", base + "/r"), "ipa-debug=1")


def _entries():
    return sorted(name for name in os.listdir(boot_cache.directory())
                  if not name.endswith(".lock"))


def test_nodes_share_one_download_and_each_build_revalidates(server):
    isos = [_build(number, server) for number in range(3)]
    for iso in isos:
        assert _iso_file(iso, "initrd.img") == server.files["/r"]
        assert _iso_file(iso, "vmlinuz") == KERNEL
        assert sorted(os.listdir(os.path.dirname(iso))) == [boot_iso.ISO_NAME]
    assert server.sent == {("/k", 200): 1, ("/r", 200): 1, ("/k", 304): 2, ("/r", 304): 2}
    assert stat.S_IMODE(os.stat(boot_cache.directory()).st_mode) == 0o700


def test_an_existing_cache_directory_open_to_others_is_closed(server):
    os.makedirs(boot_cache.directory(), mode=0o755)
    os.chmod(boot_cache.directory(), 0o755)
    _build(1, server)
    assert stat.S_IMODE(os.stat(boot_cache.directory()).st_mode) == 0o700


def test_a_file_replaced_behind_its_url_is_downloaded_again(server):
    _build(1, server)
    server.files["/r"] = b"R" * 1000
    server.version = 2
    iso = _build(2, server)
    assert _iso_file(iso, "initrd.img") == b"R" * 1000
    assert server.sent["/r", 200] == 2


@pytest.mark.parametrize("validators", [{"etag"}, {"last_modified"}])
def test_either_validator_is_enough(server, validators):
    server.validators = validators
    _build(1, server)
    _build(2, server)
    assert server.sent["/r", 200] == 1 and server.sent["/r", 304] == 1


def test_a_server_without_validators_is_downloaded_every_time(server):
    server.validators = set()
    _build(1, server)
    iso = _build(2, server)
    assert _iso_file(iso, "initrd.img") == server.files["/r"]
    assert server.sent["/r", 200] == 2
    assert not [name for name in _entries() if name.endswith(".json")]


def test_a_failing_server_is_an_error_not_the_stale_copy(server):
    _build(1, server)
    server.fail = True
    with pytest.raises(exception.DriverConnectionError, match="deploy_kernel.*500"):
        _build(2, server)


def test_concurrent_builds_of_one_image_wait_for_one_download(server):
    errors = []

    def build(number):
        try:
            _build(number, server)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert server.sent["/r", 200] == 1 and server.sent["/r", 304] == 3


def test_credentials_stay_out_of_the_cache_and_key_it(server):
    base = server.url.replace("http://", "http://ops:s3cret@")
    _build(1, server, base)
    _build(2, server)  # the same files without credentials: other entries
    assert server.sent["/r", 200] == 2
    for name in _entries():
        assert "s3cret" not in name
        if name.endswith(".json"):
            with open(os.path.join(boot_cache.directory(), name)) as handle:
                stored = json.load(handle)
            assert "s3cret" not in json.dumps(stored) and stored["url"].endswith(("/k", "/r"))


def test_unused_files_are_swept_after_the_ttl(server, config):
    config(deploy__boot_file_cache_ttl=3600)
    _build(1, server)
    old = time.time() - 7200
    kernel = [n for n in _entries() if not n.endswith(".json")]
    for name in kernel:
        os.utime(os.path.join(boot_cache.directory(), name), (old, old))
    assert sorted(boot_cache.sweep()) == sorted(kernel)
    assert os.listdir(boot_cache.directory()) == []  # lock files included
    _build(2, server)  # downloaded again
    assert server.sent["/r", 200] == 2


def test_ttl_zero_downloads_per_build_into_the_node_directory(server, config):
    config(deploy__boot_file_cache_ttl=0)
    iso = _build(1, server)
    _build(2, server)
    assert _iso_file(iso, "initrd.img") == server.files["/r"]
    assert server.sent["/r", 200] == 2
    assert not os.path.exists(boot_cache.directory())
    assert sorted(os.listdir(os.path.dirname(iso))) == [boot_iso.ISO_NAME]


def test_past_the_size_limit_the_least_recently_used_go(server, config):
    """Nodes with URLs of their own (signed temporary URLs) each leave a copy."""
    config(deploy__boot_file_cache_size=1)  # MiB: the 200 kB ramdisk fits five times
    base = server.url
    for number in range(8):
        server.files["/r%d" % number] = bytes([number]) * 200000
        boot_iso.build(_task(number, base + "/k", base + "/r%d" % number), "")
    sizes = [os.path.getsize(os.path.join(boot_cache.directory(), n))
             for n in _entries() if not n.endswith(".json")]
    assert sum(sizes) <= 1024 * 1024 and len(sizes) >= 4
    assert len(KERNEL) in sizes  # used by every build: never the least recent
    again = boot_iso.build(_task(9, base + "/k", base + "/r7"), "")
    assert _iso_file(again, "initrd.img") == bytes([7]) * 200000
    assert server.sent["/r7", 200] == 1 and server.sent["/r7", 304] == 1  # kept
    boot_iso.build(_task(10, base + "/k", base + "/r0"), "")
    assert server.sent["/r0", 200] == 2  # the least recently used went
    assert server.sent["/k", 200] == 1


def test_a_lock_file_swept_while_awaited_is_not_trusted(server, monkeypatch):
    """A build waiting on an entry's lock file while a sweep deletes it must
    lock the file now there, not the unlinked one it opened."""
    _build(1, server)
    [name] = [n for n in _entries() if n.endswith(".json") and "/r" in open(
        os.path.join(boot_cache.directory(), n)).read()]
    lock = os.path.join(boot_cache.directory(), name[:-len(".json")] + ".lock")
    real_flock, swept = boot_cache.fcntl.flock, []

    class _Fcntl:  # the first lock taken on the ramdisk's file: it is swept first
        LOCK_EX, LOCK_NB, LOCK_UN = (boot_cache.fcntl.LOCK_EX, boot_cache.fcntl.LOCK_NB,
                                     boot_cache.fcntl.LOCK_UN)

        @staticmethod
        def flock(handle, flags):
            if handle.name == lock and flags == _Fcntl.LOCK_EX and not swept:
                swept.append(True)
                os.unlink(lock)  # as _remove does, between this open and flock
            return real_flock(handle, flags)

    monkeypatch.setattr(boot_cache, "fcntl", _Fcntl)
    _build(2, server)
    assert swept and os.path.exists(lock)  # locked (and left) the new file
