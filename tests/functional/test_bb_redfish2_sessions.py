"""redfish with a BMC that has a SessionService: expiry, re-login, lost connections.

sushy-tools' emulator has no SessionService (tests/fixtures/redfish_emulator.py),
so :class:`SessionBMC` is a small Redfish service of its own on 127.0.0.1 --
just enough for power (a service root, Sessions, one ComputerSystem) --
whose sessions can be expired, and which can drop a connection without
answering, as a BMC does when it restarts its web server.
"""

import base64
import concurrent.futures
import secrets
import threading

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import redfish_session
from tests.functional import redfish_stub

USER, PASSWORD = "admin", "Session-Pass-7"
ROOT, SESSIONS, SYSTEM = "/redfish/v1", "/redfish/v1/SessionService/Sessions", \
    "/redfish/v1/Systems/1"


class SessionBMC(redfish_stub.RedfishStub):
    """Tokens from ``POST Sessions``; ``expire()`` forgets them all, ``drop_after_login``
    closes the connection of the first request that follows the next login."""

    documents = {
        ROOT: redfish_stub.service_root(
            SessionService={"@odata.id": ROOT + "/SessionService"},
            Links={"Sessions": {"@odata.id": SESSIONS}}),
        ROOT + "/Systems": redfish_stub.systems(SYSTEM),
        SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
                 "Actions": {"#ComputerSystem.Reset": {
                     "target": SYSTEM + "/Actions/ComputerSystem.Reset",
                     "ResetType@Redfish.AllowableValues": ["On", "ForceOff"]}}},
    }

    def __init__(self):
        super().__init__()
        self.password = PASSWORD
        self.tokens, self.logins, self.drop_after_login = {}, 0, False
        self.lock = threading.Lock()
        #: When set, requests with an expired token wait here for each other, so
        #: they are all refused together (several threads' calls to one BMC).
        self.refuse_together = None
        #: When set, a logout (DELETE) waits for it, up to 5 s; ``logout_released``
        #: then says whether it was set in time (True) or not (False).
        self.hold_logout, self.logout_released = None, None

    def expire(self):
        with self.lock:
            self.tokens.clear()

    def _allowed(self, request):
        """A session token, or basic auth (credentials in UTF-8, as RFC 7617 has it)."""
        basic = "Basic " + base64.b64encode(
            ("%s:%s" % (USER, self.password)).encode("utf-8")).decode()
        return (request.headers.get("X-Auth-Token") in self.tokens
                or request.headers.get("Authorization") == basic)

    def _refused(self, request):
        if self.refuse_together and request.headers.get("X-Auth-Token"):
            self.refuse_together.wait()
        return 401, {"error": {"code": "Base.1.0.NoValidSession",
                               "message": "There is no valid session"}}

    def _dropped(self):
        """True (the connection is to close unanswered) for the request after a login."""
        with self.lock:
            drop, self.drop_after_login = self.drop_after_login == "now", (
                False if self.drop_after_login == "now" else self.drop_after_login)
        return drop

    def GET(self, request):
        """The service root to anyone; the rest to a session or basic auth."""
        if request.resource == ROOT:
            return 200, self.documents[ROOT]
        if self._dropped():
            return None
        if not self._allowed(request):
            return self._refused(request)
        document = self.document(request.resource)
        if document is None:
            return 404, {"error": {"code": "Base.1.0.ResourceMissingAtURI",
                                   "message": request.resource}}
        return 200, document

    def POST(self, request):
        body = request.body
        if request.resource != SESSIONS:
            return 404, {"error": {"code": "x", "message": request.path}}
        if (body.get("UserName"), body.get("Password")) != (USER, self.password):
            return self._refused(request)
        with self.lock:
            self.logins += 1
            token, number = secrets.token_hex(8), str(self.logins)
            self.tokens[token] = number
            if self.drop_after_login:
                self.drop_after_login = "now"
        return 201, {"@odata.id": SESSIONS + "/" + number, "Id": number}, [
            ("X-Auth-Token", token), ("Location", SESSIONS + "/" + number)]

    def DELETE(self, request):
        if not self._allowed(request):
            return self._refused(request)
        if self.hold_logout is not None:
            self.logout_released = self.hold_logout.wait(timeout=5)
        with self.lock:
            number = request.resource.rpartition("/")[2]
            for token in [t for t, n in self.tokens.items() if n == number]:
                del self.tokens[token]
        return 204, None


@pytest.fixture
def bmc(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=0.0,
                                 redfish__connect_timeout=1.0,
                                 redfish__read_timeout=5.0) as serve:
        yield serve(SessionBMC())


def _task(bmc):
    return redfish_stub.task(bmc, PASSWORD, username=USER, auth_type="session", name="sess")


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
    other = SessionBMC().start()
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
        other.close()


def test_a_password_latin1_cannot_encode_is_sent_as_utf8_by_basic_auth(bmc):
    """requests raised UnicodeEncodeError for it, naming neither the node nor the field."""
    bmc.password = "Pass\u20acword-\u0416"  # a Euro sign and a Cyrillic letter
    task = redfish_stub.task(bmc, bmc.password, username=USER, name="utf8")
    assert task.driver.power.get_power_state(task) == "power on"
