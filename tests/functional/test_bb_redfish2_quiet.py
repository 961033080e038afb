"""redfish against a BMC that publishes no @Redfish.AllowableValues (they are optional).

sushy logs a warning each time such a system's allowed reset types or boot
sources are read. :class:`PlainBMC` is a small Redfish service on 127.0.0.1
whose system lists neither (sushy-tools' emulator lists both): polling its
power state -- what the conductor does for every node, every minute -- must
not log them.
"""

import http.server
import json
import logging
import threading

import pytest

from hwdrivers.drivers import actions
from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask

SYSTEM = "/redfish/v1/Systems/1"
RESET = SYSTEM + "/Actions/ComputerSystem.Reset"


class PlainBMC(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.resets = []

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    DOCUMENTS = {
        "/redfish/v1": {"@odata.id": "/redfish/v1/", "Id": "RootService",
                        "RedfishVersion": "1.6.0",
                        "Systems": {"@odata.id": "/redfish/v1/Systems"}},
        "/redfish/v1/Systems": {"@odata.id": "/redfish/v1/Systems",
                                "Members": [{"@odata.id": SYSTEM}]},
        SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
                 "Boot": {"BootSourceOverrideEnabled": "Disabled",
                          "BootSourceOverrideTarget": "None"},
                 "Actions": {"#ComputerSystem.Reset": {"target": RESET}}},
    }

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
        document = self.DOCUMENTS.get(self.path.rstrip("/"))
        self._send(200 if document else 404, document or {"error": {"code": "NotFound"}})

    def do_POST(self):
        self.server.resets.append(json.loads(self.rfile.read(
            int(self.headers.get("Content-Length") or 0))))
        self._send(204)


@pytest.fixture
def plain_bmc(config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           redfish__command_retry_timeout=0.0)
    redfish_session.CACHE.clear()
    server = PlainBMC()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    redfish_session.CACHE.clear()
    server.shutdown()
    server.server_close()


def _sushy_warnings(caplog):
    return [r for r in caplog.records
            if r.name.startswith("sushy") and r.levelno >= logging.WARNING]


def test_polling_the_power_state_logs_no_warning(plain_bmc, caplog):
    task = StandaloneTask.for_driver("redfish", name="plain", driver_info={
        "redfish_address": plain_bmc.url, "redfish_username": "root",
        "redfish_password": "Plain-Pass-6", "redfish_auth_type": "basic"})
    caplog.set_level(logging.WARNING)
    for _ in range(5):
        assert actions.get_power_state(task) == "power on"
    assert task.driver.management.get_boot_device(task)["boot_device"] is None
    assert _sushy_warnings(caplog) == []
    # An action still checks what the system allows (here: anything, said once).
    actions.set_power_state(task, "rebooting")
    assert plain_bmc.resets == [{"ResetType": "ForceRestart"}]
