"""hwdrivers-agent's inventory on machines unlike the developer's: odd ``ip`` output.

A fake ``ip`` first on PATH prints what ``ip -j link show`` prints on them;
the agent must still report the Ethernet NICs it can, and never crash
before its lookup.
"""

import http.server
import os
import socket
import threading

import pytest

from hwdrivers.agent import errors
from hwdrivers.agent import inventory

LINKS = ('[{"ifindex":1,"ifname":"lo","link_type":"loopback","address":"00:00:00:00:00:00"},'
         '{"ifindex":2,"ifname":"eth0","link_type":"ether","address":"52:54:00:AA:BB:01",'
         '"flags":["UP","LOWER_UP"]%s}%s]')


@pytest.fixture
def fake_ip(tmp_path, monkeypatch):
    """``fake_ip(bytes)``: ``ip`` prints those bytes."""
    def install(output: bytes):
        (tmp_path / "ip.out").write_bytes(output)
        script = tmp_path / "bin" / "ip"
        script.parent.mkdir(exist_ok=True)
        script.write_text("#!/bin/sh\ncat %s\n" % (tmp_path / "ip.out"))
        script.chmod(0o755)
        monkeypatch.setenv("PATH", "%s%s%s" % (script.parent, os.pathsep, os.environ["PATH"]))
    return install


def test_a_link_alias_in_latin_1_does_not_hide_every_nic(fake_ip):
    """``ip -j`` passes an alias's bytes through; one \\xff made 'interfaces' fail."""
    fake_ip((LINKS % (',"ifalias":"Baie \xe9 \xff"', "")).encode("latin-1"))
    data = inventory.collect()
    assert data["inventory"]["interfaces"] == [
        {"name": "eth0", "mac_address": "52:54:00:aa:bb:01", "has_carrier": True}]
    assert data["error"] is None, data["error"]


def test_a_link_without_a_name_is_skipped_not_a_crash(fake_ip):
    """A KeyError from a reader ended the agent before its lookup."""
    fake_ip((LINKS % ("", ',{"ifindex":3,"link_type":"ether","address":"52:54:00:aa:bb:02"}'))
            .encode())
    data = inventory.collect()
    assert [nic["name"] for nic in data["inventory"]["interfaces"]] == ["eth0"]
    assert data["error"] is None, data["error"]


def test_output_of_an_unexpected_shape_is_named_in_error(fake_ip):
    """Whatever a reader trips on, the part is named in ``error`` and the rest is posted."""
    fake_ip(b'[{"ifname": "eth0", "link_type": "ether", "address": 5}]')  # not a string
    data = inventory.collect()
    assert "interfaces" not in data["inventory"]
    assert data["error"].startswith("interfaces: AttributeError("), data["error"]
    assert data["inventory"]["cpu"]["count"] >= 1  # the other parts were read


class _HTMLAnswer(http.server.BaseHTTPRequestHandler):
    """A callback URL that names a web server: 200 and a page, whatever was posted."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        payload = self.server.payload
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("payload", [b"<html><body>It works!</body></html>", b"[1, 2]"])
def test_an_answer_that_is_not_a_json_object_does_not_end_the_agent(payload):
    """A JSONDecodeError escaped post() and the agent died before its lookup."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HTMLAnswer)
    server.payload = payload
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:%d/v1/continue_inspection" % server.server_address[1]
        assert inventory.post(url, {"inventory": {}}, sleep=lambda s: None) == {}
    finally:
        server.shutdown()
        server.server_close()


def test_a_callback_url_that_is_not_http_is_retried_then_given_up():
    """An SSH banner where HTTP belongs (the wrong port): BadStatusLine ended the agent."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def banner():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n")
    threading.Thread(target=banner, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/v1/continue_inspection" % listener.getsockname()[1]
        pauses = []
        with pytest.raises(errors.InspectionError, match="after 5 attempts"):
            inventory.post(url, {"inventory": {}}, timeout=5, sleep=pauses.append)
        assert len(pauses) == inventory.POST_ATTEMPTS - 1
    finally:
        listener.close()
