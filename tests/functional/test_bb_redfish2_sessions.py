"""redfish with a BMC that has a SessionService: expiry, re-login, lost connections.

sushy-tools' emulator has no SessionService (tests/fixtures/redfish_emulator.py),
so :class:`SessionBMC` is a small Redfish service of its own on 127.0.0.1 --
just enough for power (a service root, Sessions, one ComputerSystem) --
whose sessions can be expired, and which can drop a connection without
answering, as a BMC does when it restarts its web server.
"""

import base64
import concurrent.futures
import http.server
import json
import secrets
import threading

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask

USER, PASSWORD = "admin", "Session-Pass-7"
ROOT, SESSIONS, SYSTEM = "/redfish/v1", "/redfish/v1/SessionService/Sessions", \
    "/redfish/v1/Systems/1"


class SessionBMC(http.server.ThreadingHTTPServer):
    """Tokens from ``POST Sessions``; ``expire()`` forgets them all, ``drop_after_login``
    closes the connection of the first request that follows the next login."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.password = PASSWORD
        self.tokens, self.logins, self.drop_after_login = {}, 0, False
        self.lock = threading.Lock()
        #: When set, requests with an expired token wait here for each other, so
        #: they are all refused together (several threads' calls to one BMC).
        self.refuse_together = None
        #: When set, a logout (DELETE) waits for it, up to 5 s; ``logout_released``
        #: then says whether it was set in time (True) or not (False).
        self.hold_logout, self.logout_released = None, None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def expire(self):
        with self.lock:
            self.tokens.clear()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        # One request per connection: a client reusing a kept-alive one this
        # server already closed would lose requests at random.
        self.close_connection = True
        for name, value in (("Content-Type", "application/json"), ("Connection", "close"),
                            ("Content-Length", str(len(data))), *headers):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _allowed(self):
        """A session token, or basic auth (credentials in UTF-8, as RFC 7617 has it)."""
        basic = "Basic " + base64.b64encode(
            ("%s:%s" % (USER, self.server.password)).encode("utf-8")).decode()
        return (self.headers.get("X-Auth-Token") in self.server.tokens
                or self.headers.get("Authorization") == basic)

    def _refused(self):
        if self.server.refuse_together and self.headers.get("X-Auth-Token"):
            self.server.refuse_together.wait()
        self._send(401, {"error": {"code": "Base.1.0.NoValidSession",
                                   "message": "There is no valid session"}})

    def _dropped(self):
        """True (and the connection closed unanswered) for the request after a login."""
        with self.server.lock:
            drop, self.server.drop_after_login = self.server.drop_after_login == "now", (
                False if self.server.drop_after_login == "now" else
                self.server.drop_after_login)
        if drop:
            self.close_connection = True
        return drop

    def do_GET(self):
        path = self.path.rstrip("/")
        if path == ROOT:
            return self._send(200, {"@odata.id": ROOT + "/", "Id": "RootService",
                                    "RedfishVersion": "1.6.0",
                                    "Systems": {"@odata.id": ROOT + "/Systems"},
                                    "SessionService": {"@odata.id": ROOT + "/SessionService"},
                                    "Links": {"Sessions": {"@odata.id": SESSIONS}}})
        if self._dropped():
            return
        if not self._allowed():
            return self._refused()
        if path == ROOT + "/Systems":
            return self._send(200, {"@odata.id": path, "Members": [{"@odata.id": SYSTEM}]})
        if path == SYSTEM:
            return self._send(200, {
                "@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
                "Actions": {"#ComputerSystem.Reset": {
                    "target": SYSTEM + "/Actions/ComputerSystem.Reset",
                    "ResetType@Redfish.AllowableValues": ["On", "ForceOff"]}}})
        self._send(404, {"error": {"code": "Base.1.0.ResourceMissingAtURI", "message": path}})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if self.path.rstrip("/") != SESSIONS:
            return self._send(404, {"error": {"code": "x", "message": self.path}})
        if (body.get("UserName"), body.get("Password")) != (USER, self.server.password):
            return self._refused()
        with self.server.lock:
            self.server.logins += 1
            token, number = secrets.token_hex(8), str(self.server.logins)
            self.server.tokens[token] = number
            if self.server.drop_after_login:
                self.server.drop_after_login = "now"
        self._send(201, {"@odata.id": SESSIONS + "/" + number, "Id": number},
                   [("X-Auth-Token", token), ("Location", SESSIONS + "/" + number)])

    def do_DELETE(self):
        if not self._allowed():
            return self._refused()
        if self.server.hold_logout is not None:
            self.server.logout_released = self.server.hold_logout.wait(timeout=5)
        with self.server.lock:
            number = self.path.rstrip("/").rpartition("/")[2]
            for token in [t for t, n in self.server.tokens.items() if n == number]:
                del self.server.tokens[token]
        self._send(204)


@pytest.fixture
def bmc(config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           redfish__command_retry_timeout=0.0, redfish__connect_timeout=1.0,
           redfish__read_timeout=5.0)
    redfish_session.CACHE.clear()
    server = _serve()
    yield server
    redfish_session.CACHE.clear()
    server.shutdown()
    server.server_close()


def _serve():
    server = SessionBMC()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _task(bmc):
    return StandaloneTask.for_driver("redfish", name="sess", driver_info={
        "redfish_address": bmc.url, "redfish_username": USER, "redfish_password": PASSWORD,
        "redfish_auth_type": "session"})


def test_a_connection_lost_after_a_relogin_is_not_reported_as_the_expired_session(bmc):
    """The session expired (401), sushy logged in again, and the retried request lost
    its connection: the error is the lost connection, not the 401 handled before it."""
    task = _task(bmc)
    assert task.driver.power.get_power_state(task) == "power on"
    bmc.expire()
    bmc.drop_after_login = True
    with pytest.raises(exception.DriverConnectionError) as info:
        task.driver.power.get_power_state(task)
    message = str(info.value)
    assert bmc.logins == 2, message  # the re-login happened; the request after it was dropped
    assert "Remote end closed connection without response" in message, message
    assert "401" not in message and "session" not in message.lower(), message
    assert PASSWORD not in message


def test_threads_refused_together_log_in_again_once(bmc):
    """Four calls sharing the cached client find its session expired at once: one new
    session, not four (the BMC would keep three it never gets back until they time out)."""
    task = _task(bmc)
    assert task.driver.power.get_power_state(task) == "power on"
    bmc.expire()
    bmc.refuse_together = threading.Barrier(4, timeout=10)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        states = list(pool.map(lambda _: task.driver.power.get_power_state(_task(bmc)),
                               range(4)))
    assert states == ["power on"] * 4
    assert bmc.logins == 2 and len(bmc.tokens) == 1


def test_evicting_another_bmcs_client_does_not_wait_for_its_logout(bmc, config):
    """The cache holds one client; calling a second BMC evicts the first, whose
    session is logged out -- but not by that call, which has its own BMC to talk to
    (the first may have stopped answering: the call would wait connect_timeout)."""
    import time

    config(redfish__connection_cache_size=1)
    other = _serve()
    try:
        task = _task(bmc)
        assert task.driver.power.get_power_state(task) == "power on"
        bmc.hold_logout = threading.Event()
        task = _task(other)
        assert task.driver.power.get_power_state(task) == "power on"
        # That call returned while the first BMC's logout still waits for this:
        bmc.hold_logout.set()
        end = time.monotonic() + 10
        while bmc.logout_released is None and time.monotonic() < end:
            time.sleep(0.02)
        assert bmc.logout_released is True
        end = time.monotonic() + 10
        while bmc.tokens and time.monotonic() < end:
            time.sleep(0.02)
        assert bmc.tokens == {}  # logged out all the same
    finally:
        redfish_session.CACHE.clear()
        other.shutdown()
        other.server_close()


def test_a_password_latin1_cannot_encode_is_sent_as_utf8_by_basic_auth(bmc):
    """requests raised UnicodeEncodeError for it, naming neither the node nor the field."""
    bmc.password = "Pass\u20acword-\u0416"  # a Euro sign and a Cyrillic letter
    task = StandaloneTask.for_driver("redfish", name="utf8", driver_info={
        "redfish_address": bmc.url, "redfish_username": USER,
        "redfish_password": bmc.password, "redfish_auth_type": "basic"})
    assert task.driver.power.get_power_state(task) == "power on"
