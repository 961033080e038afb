"""redfish bios: the settings PATCH asks for OnReset when the BMC offers apply times.

sushy-tools' BIOS has no ``SupportedApplyTimes`` (doc/drivers/redfish.md), so
:class:`BiosBMC` is a small Redfish service on 127.0.0.1 whose Bios resource
lists them (as iDRAC, iLO 6 and XCC do) or not, and which records the PATCH.
"""

import http.server
import json
import threading

import pytest

from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask

SYSTEM = "/redfish/v1/Systems/1"
BIOS = SYSTEM + "/Bios"


class BiosBMC(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, apply_times):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.apply_times, self.patches = apply_times, []

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def document(self, path):
        settings = {"SettingsObject": {"@odata.id": BIOS + "/Settings"}}
        if self.apply_times is not None:
            settings["SupportedApplyTimes"] = self.apply_times
        return {
            "/redfish/v1": {"@odata.id": "/redfish/v1/", "Id": "RootService",
                            "RedfishVersion": "1.6.0",
                            "Systems": {"@odata.id": "/redfish/v1/Systems"}},
            "/redfish/v1/Systems": {"@odata.id": "/redfish/v1/Systems",
                                    "Members": [{"@odata.id": SYSTEM}]},
            SYSTEM: {"@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
                     "Bios": {"@odata.id": BIOS}},
            BIOS: {"@odata.id": BIOS, "Id": "Bios", "Name": "BIOS",
                   "Attributes": {"ProcTurboMode": "Enabled"},
                   "@Redfish.Settings": settings},
            BIOS + "/Settings": {"@odata.id": BIOS + "/Settings", "Id": "Settings",
                                 "Name": "BIOS pending", "Attributes": {}},
        }.get(path)


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
        document = self.server.document(self.path.rstrip("/"))
        self._send(200 if document else 404, document or {"error": {"code": "NotFound"}})

    def do_PATCH(self):
        self.server.patches.append(json.loads(self.rfile.read(
            int(self.headers.get("Content-Length") or 0))))
        self._send(204)


@pytest.fixture
def bios_bmc(config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           enabled_bios_interfaces=["redfish", "no-bios"], redfish__command_retry_timeout=0.0)
    redfish_session.CACHE.clear()
    servers = []

    def start(apply_times):
        server = BiosBMC(apply_times)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return StandaloneTask.for_driver("redfish", {
            "redfish_address": server.url, "redfish_username": "root",
            "redfish_password": "Bios-Pass-4", "redfish_auth_type": "basic"},
            bios_interface="redfish"), server

    yield start
    redfish_session.CACHE.clear()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("apply_times, sent", [
    (["Immediate", "OnReset", "AtMaintenanceWindowStart"], "OnReset"),
    (None, None),
    (["Immediate"], None),
])
def test_settings_are_asked_for_the_next_boot_when_the_bmc_offers_it(bios_bmc, apply_times,
                                                                     sent):
    task, bmc = bios_bmc(apply_times)
    assert task.driver.bios._patch(task, [{"name": "ProcTurboMode", "value": "Disabled"}]) \
        == {"ProcTurboMode": "Disabled"}
    [patch] = bmc.patches
    assert patch["Attributes"] == {"ProcTurboMode": "Disabled"}
    asked = patch.get("@Redfish.SettingsApplyTime")
    assert (asked and asked["ApplyTime"]) == sent
