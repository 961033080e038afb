"""redfish: a BMC that refuses a request only for now is asked again.

HPE iLO answers a boot device change during POST (the seconds after a
reboot, exactly when a deploy sets the boot device) with HTTP 400 and
``UnableToModifyDuringSystemPOST``; the same PATCH succeeds once POST is
over. :class:`BusyBMC` is a small Redfish service on 127.0.0.1 answering
so (sushy-tools' emulator never refuses that way), then accepting.
"""

import http.server
import json
import threading

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask

SYSTEM = "/redfish/v1/Systems/1"
#: An iLO 5's answer during POST: the id is only in the extended info.
DURING_POST = {"error": {"code": "iLO.0.10.ExtendedInfo",
                         "message": "See @Message.ExtendedInfo for more information.",
                         "@Message.ExtendedInfo": [
                             {"MessageId": "iLO.2.14.UnableToModifyDuringSystemPOST"}]}}
NOT_IN_LIST = {"error": {"code": "Base.1.8.GeneralError", "message": "bad value",
                         "@Message.ExtendedInfo": [
                             {"MessageId": "Base.1.8.PropertyValueNotInList",
                              "Message": "The value Pxe is not in the list"}]}}
DOCUMENTS = {
    "/redfish/v1": {"@odata.id": "/redfish/v1/", "Id": "RootService",
                    "RedfishVersion": "1.6.0", "Systems": {"@odata.id": "/redfish/v1/Systems"}},
    "/redfish/v1/Systems": {"@odata.id": "/redfish/v1/Systems",
                            "Members": [{"@odata.id": SYSTEM}]},
    SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
             "Boot": {"BootSourceOverrideEnabled": "Disabled",
                      "BootSourceOverrideTarget": "None",
                      "BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Hdd"]}},
}


class BusyBMC(http.server.ThreadingHTTPServer):
    """Answers each PATCH with the next of ``refusals`` (HTTP 400), then 204.

    ``patches`` counts them all, sushy's own second try without an ETag too.
    """

    daemon_threads = True

    def __init__(self, refusals):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.refusals, self.patches = list(refusals), 0

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.close_connection = True  # one request per connection: no reuse races
        self.send_response(code)
        for name, value in (("Content-Type", "application/json"), ("Connection", "close"),
                            ("Content-Length", str(len(data)))):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        document = DOCUMENTS.get(self.path.rstrip("/"))
        self._send(200 if document else 404, document or {"error": {"code": "NotFound"}})

    def do_PATCH(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.patches += 1
        if self.server.refusals:
            return self._send(400, self.server.refusals.pop(0))
        self._send(204)


@pytest.fixture
def serve(config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           redfish__command_retry_timeout=10.0, redfish__connect_timeout=1.0,
           redfish__read_timeout=5.0)
    redfish_session.CACHE.clear()
    servers = []

    def start(refusals):
        server = BusyBMC(refusals)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    redfish_session.CACHE.clear()
    for server in servers:
        server.shutdown()
        server.server_close()


def _task(server):
    return StandaloneTask.for_driver("redfish", name="busy", driver_info={
        "redfish_address": server.url, "redfish_username": "admin",
        "redfish_password": "Busy-Pass-3", "redfish_auth_type": "basic"})


def test_a_boot_device_refused_during_post_is_set_once_post_is_over(serve):
    bmc = serve([DURING_POST, DURING_POST])
    actions.set_boot_device(_task(bmc), "pxe", persistent=True)
    assert bmc.refusals == [] and bmc.patches >= 3  # asked until it accepted


def test_a_value_the_bmc_does_not_take_is_still_not_retried(serve):
    """Asked again, this BMC would accept: the error shows it was asked once."""
    bmc = serve([NOT_IN_LIST])
    with pytest.raises(exception.DriverUnsupportedAction, match="it was not retried"):
        actions.set_boot_device(_task(bmc), "pxe", persistent=True)
