"""Inspection and BIOS cleaning as a demanding operator uses them: odd BMCs, bad requests.

The real ``hwdrivers-server`` against sushy-tools' emulator with hardware
(tests/fixtures/redfish_hardware.py). One system reports MACs the way some
BMCs do: dash-separated upper case (which Redfish's MACAddress pattern
allows) and ``"Not Available"`` for a NIC it cannot read. A BMC that answers
an HTML page is a real HTTP server (:class:`_HTMLServer`). In-band
inspection is driven through ``POST /v1/continue_inspection``, the call the
ramdisk makes, on a redfish node whose inspect interface is ``agent``.
"""

import copy
import http.server
import json
import threading
import urllib.error
import urllib.request

import pytest

from tests.fixtures.processes import stop_group
from tests.fixtures.redfish_hardware import HARDWARE_SYSTEMS
from tests.fixtures.redfish_hardware import start_hardware_emulator
from tests.functional import server_proc
from tests.functional.test_inspect_redfish import _ok
from tests.functional.test_inspect_redfish import _ports
from tests.functional.test_inspect_redfish import _provision
from tests.functional.test_inspect_redfish import _settle
from tests.waits import wait_for

ODD = dict(copy.deepcopy(HARDWARE_SYSTEMS["hw-b"]), uuid="6b0c00bb-0000-4000-8000-0000000000b1",
           nics=[{"mac": "52-54-00-EE-00-01", "ip": "192.0.2.201"},
                 {"mac": "Not Available", "ip": "192.0.2.202"}])
PLAIN = dict(copy.deepcopy(HARDWARE_SYSTEMS["hw-c"]), uuid="6b0c00bb-0000-4000-8000-0000000000c1",
             nics=[{"mac": "52:54:00:ef:00:01", "ip": "192.0.2.211"}])
AGENT = dict(copy.deepcopy(HARDWARE_SYSTEMS["hw-b"]), uuid="6b0c00bb-0000-4000-8000-0000000000d1",
             nics=[{"mac": "52:54:00:ef:00:11", "ip": "192.0.2.221"}])
GiB = 1024 ** 3


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = start_hardware_emulator(tmp_path_factory.mktemp("bb-redfish-hw"),
                                  {"odd": ODD, "plain": PLAIN, "agent": AGENT})
    yield emu
    stop_group(emu.process)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with server_proc.running(tmp_path_factory.mktemp("bb-inspect-server"), name="bb-inspect",
                             options={"redfish": {"command_retry_timeout": 1,
                                                  "connect_timeout": 2},
                                      # agent inspection with boot noop: posted by hand
                                      "deploy": {"inspection_require_managed_boot": False}}
                             ) as proc:
        yield proc


def _answering(body, content_type):
    """A web server where the BMC's Redfish service should be, answering every
    GET with ``body``; yields its URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def html_bmc():
    yield from _answering(b"<html><body>Login</body></html>", "text/html")


@pytest.fixture
def list_bmc():
    """JSON, but an array where every Redfish document is an object."""
    yield from _answering(b'[{"@odata.id": "/redfish/v1"}, 2]', "application/json")


def _managed(server, emulator, name, system, **fields):
    _ok(server.call("POST", "/v1/nodes", dict(
        {"name": name, "driver": "redfish", "driver_info": emulator.driver_info(system)},
        **fields)), 201)
    _ok(_provision(server, name, "manage"), 202)
    node = _settle(server, name)
    assert node["provision_state"] == "manageable", node["last_error"]
    return node


def test_dashed_and_unreadable_macs_do_not_fail_the_inspection(server, emulator):
    """A dashed MAC becomes a port; a NIC reporting "Not Available" gets none."""
    _managed(server, emulator, "odd-macs", "odd")
    _ok(_provision(server, "odd-macs", "inspect"), 202)
    node = _settle(server, "odd-macs")
    assert node["provision_state"] == "manageable", node["last_error"]
    assert node["properties"]["cpus"] == 4
    assert _ports(server, "odd-macs") == ["52:54:00:ee:00:01"]
    assert "reports 'not available', not a MAC address; no port for it" in server.log()


def test_a_bmc_answering_html_fails_naming_the_node_and_the_bmc(server, emulator, html_bmc):
    _managed(server, emulator, "html-bmc", "plain")
    _ok(server.call("PATCH", "/v1/nodes/html-bmc", [
        {"op": "replace", "path": "/driver_info/redfish_address", "value": html_bmc}]))
    _ok(_provision(server, "html-bmc", "inspect"), 202)
    node = _settle(server, "html-bmc")
    assert node["provision_state"] == "inspect failed"
    error = node["last_error"]
    assert "node html-bmc" in error and html_bmc in error, error
    assert "answered something that is not JSON while inspecting the hardware" in error
    assert emulator.password not in error and emulator.password not in server.log()
    assert _ports(server, "html-bmc") == [] and "cpus" not in node["properties"]


def test_a_bmc_answering_json_of_the_wrong_shape_fails_naming_the_node_and_the_bmc(
        server, emulator, list_bmc):
    """sushy's own TypeError ('list indices must be integers') named neither."""
    _managed(server, emulator, "list-bmc", "plain")
    _ok(server.call("PATCH", "/v1/nodes/list-bmc", [
        {"op": "replace", "path": "/driver_info/redfish_address", "value": list_bmc}]))
    _ok(_provision(server, "list-bmc", "inspect"), 202)
    node = _settle(server, "list-bmc")
    assert node["provision_state"] == "inspect failed"
    error = node["last_error"]
    assert "node list-bmc" in error and list_bmc in error, error
    assert "answered a document the Redfish library cannot read" in error, error
    assert emulator.password not in error and emulator.password not in server.log()


@pytest.mark.parametrize("name, step", [
    ("steps-list-interface", {"interface": ["bios"], "step": "factory_reset"}),
    ("steps-list-step", {"interface": "bios", "step": ["factory_reset"]}),
    ("steps-objects", {"interface": {"bios": 1}, "step": {"factory_reset": 1}}),
])
def test_clean_steps_naming_no_string_are_400(server, emulator, name, step):
    _managed(server, emulator, name, "plain")
    status, body = _provision(server, name, "clean", clean_steps=[step])
    assert status == 400, body
    assert "clean_steps[0]: interface and step must be strings" in body["error_message"]
    node = _ok(server.call("GET", "/v1/nodes/%s" % name))
    assert node["provision_state"] == "manageable" and node["last_error"] is None
    _ok(server.call("DELETE", "/v1/nodes/%s" % name), 204)


def test_malformed_bios_settings_are_400_before_the_bios_was_ever_read(server, emulator):
    _managed(server, emulator, "never-read", "plain")
    assert _ok(server.call("GET", "/v1/nodes/never-read/bios"))["bios"] == []
    patches = "/redfish/v1/Systems/%s/BIOS/Settings" % emulator.uuid("plain")
    before = emulator.count_requests("PATCH", patches)
    for settings, words in (("ProcTurboMode=Disabled", "settings must be a non-empty list"),
                            ([], "settings must be a non-empty list"),
                            ([{"name": "ProcTurboMode"}], "settings[0] must be {")):
        status, body = _provision(server, "never-read", "clean", clean_steps=[
            {"interface": "bios", "step": "apply_configuration",
             "args": {"settings": settings}}])
        assert status == 400, body
        assert words in body["error_message"], body
    node = _ok(server.call("GET", "/v1/nodes/never-read"))
    assert node["provision_state"] == "manageable" and node["last_error"] is None
    assert emulator.count_requests("PATCH", patches) == before


def test_a_failed_clean_step_leaves_no_plan_behind(server, emulator):
    """clean failed names the step in last_error; driver_internal_info keeps no plan."""
    _managed(server, emulator, "failing-clean", "plain")
    # not cached yet: the step checks the live registry and refuses the read-only one
    _ok(_provision(server, "failing-clean", "clean", clean_steps=[
        {"interface": "bios", "step": "apply_configuration",
         "args": {"settings": [{"name": "NumCores", "value": "12"}]}}]), 202)
    node = _settle(server, "failing-clean")
    assert node["provision_state"] == "clean failed"
    assert "bios.apply_configuration" in node["last_error"]
    assert "clean_steps" not in node["driver_internal_info"]
    assert "clean_step_index" not in node["driver_internal_info"]


def _post_inventory(server, uuid, inventory):
    return server.call("POST", "/v1/continue_inspection?node_uuid=%s" % uuid,
                       {"inventory": inventory})


def _node_when(server, name, check, message):
    def ready():
        node = _ok(server.call("GET", "/v1/nodes/%s" % name))
        return node if check(node) else None
    return wait_for(ready, 60, interval=0.2, message=message)


def _waiting(server, name):
    _ok(_provision(server, name, "inspect"), 202)
    return _node_when(server, name, lambda n: n["provision_state"] == "inspect wait",
                      "node %s to wait for the ramdisk" % name)


def test_in_band_inventory_with_bad_values_and_macs(server, emulator):
    """The ramdisk's inventory: a bad number names its field; a NIC without a MAC is left out."""
    node = _managed(server, emulator, "agent-insp", "agent",
                    inspect_interface="agent", boot_interface="noop")
    nics = [{"name": "eth0", "mac_address": "52:54:00:ef:00:11"},
            {"name": "ib0", "mac_address": ""}]
    _waiting(server, "agent-insp")
    assert _ok(_post_inventory(server, node["uuid"], {
        "interfaces": nics, "cpu": {"count": "lots"}}), 202)["uuid"] == node["uuid"]
    failed = _settle(server, "agent-insp")
    assert failed["provision_state"] == "inspect failed"
    assert "inventory field cpu.count is 'lots', not a number" in failed["last_error"]
    assert _ports(server, "agent-insp") == [] and "cpus" not in failed["properties"]

    _waiting(server, "agent-insp")
    _ok(_post_inventory(server, node["uuid"], {
        "interfaces": nics, "disks": [{"name": "/dev/sda", "size": "big"}]}), 202)
    failed = _settle(server, "agent-insp")
    assert "inventory field disks[0].size is 'big', not a number" in failed["last_error"]

    _waiting(server, "agent-insp")
    _ok(_post_inventory(server, node["uuid"], {"interfaces": nics, "memory": [8192]}), 202)
    failed = _settle(server, "agent-insp")
    assert ("inventory field memory must be a JSON object, not list"
            in failed["last_error"]), failed["last_error"]

    _waiting(server, "agent-insp")
    _ok(_post_inventory(server, node["uuid"], {
        "interfaces": nics, "cpu": {"count": 6, "architecture": "x86_64"},
        "disks": [{"name": "/dev/sda", "size": 20 * GiB}]}), 202)
    done = _settle(server, "agent-insp")
    assert done["provision_state"] == "manageable", done["last_error"]
    assert done["properties"]["cpus"] == 6 and done["properties"]["local_gb"] == 19
    assert _ports(server, "agent-insp") == ["52:54:00:ef:00:11"]
    assert "interface ib0 reports '', not a MAC address; no port for it" in server.log()


def test_aborted_in_band_inspection_keeps_no_wait_mark(server, emulator):
    _managed(server, emulator, "agent-abort", "agent",
             inspect_interface="agent", boot_interface="noop")
    node = _waiting(server, "agent-abort")
    assert "inspect_wait_started_at" in node["driver_internal_info"]
    _ok(_provision(server, "agent-abort", "abort"), 202)
    node = _node_when(server, "agent-abort", lambda n: n["power_state"] == "power off",
                      "the aborted node to be off")
    assert node["provision_state"] == "inspect failed"
    assert node["last_error"].startswith("inspection aborted by request")
    assert "inspect_wait_started_at" not in node["driver_internal_info"]


def _echoing_bmc(upstream):
    """The emulator behind a proxy that refuses a BIOS PATCH as some BMCs do: quoting it.

    Redfish's Base registry message PropertyValueFormatError reads "The value
    %1 for the property %2 is of a different format than the property can
    accept": the refused value, a BIOS password included, comes back in the
    top-level message and in @Message.ExtendedInfo.
    """
    class Proxy(http.server.BaseHTTPRequestHandler):
        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if self.command == "PATCH" and self.path.endswith("/BIOS/Settings"):
                name, value = next(iter(json.loads(body)["Attributes"].items()))
                said = ("The value %s for the property %s is of a different format than "
                        "the property can accept." % (value, name))
                status, data, headers = 400, json.dumps({"error": {
                    "code": "Base.1.8.PropertyValueFormatError", "message": said,
                    "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.PropertyValueFormatError",
                                               "Message": said}]}}).encode(), {}
            else:
                request = urllib.request.Request(upstream + self.path, data=body,
                                                 method=self.command)
                for key, value in self.headers.items():
                    if key.lower() not in ("host", "content-length"):
                        request.add_header(key, value)
                try:
                    with urllib.request.urlopen(request, timeout=30) as answer:
                        status, data, headers = answer.status, answer.read(), answer.headers
                except urllib.error.HTTPError as error:
                    status, data, headers = error.code, error.read(), error.headers
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() in ("content-type", "etag", "www-authenticate"):
                    self.send_header(key, value)
            if status == 400:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _forward

        def log_message(self, *args):
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)


def test_a_bios_password_the_bmc_quotes_back_stays_secret(server, emulator):
    """A BMC refusing a BIOS password with its value in the message: masked everywhere."""
    log_before = len(server.log())  # the server is the module's: other tests' lines
    proxy = _echoing_bmc(emulator.url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        _ok(server.call("POST", "/v1/nodes", {
            "name": "bios-echo", "driver": "redfish", "driver_info": emulator.driver_info(
                "plain", redfish_address="http://127.0.0.1:%d" % proxy.server_address[1])}),
            201)
        _ok(_provision(server, "bios-echo", "manage"), 202)
        assert _settle(server, "bios-echo")["provision_state"] == "manageable"
        secret = "Tiny-S3cret-77"
        _ok(_provision(server, "bios-echo", "clean", clean_steps=[
            {"interface": "bios", "step": "apply_configuration",
             "args": {"settings": [{"name": "SysPassword", "value": secret}]}}]), 202)
        node = _settle(server, "bios-echo")
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert node["provision_state"] == "clean failed"
    assert "bios.apply_configuration" in node["last_error"]
    assert "refused the request (HTTP 400: The value ****** for the property SysPassword" in \
        node["last_error"], node["last_error"]
    assert "Base.1.8.PropertyValueFormatError" in server.log()  # sushy's warning, masked
    # Refused as wrong: sent once, not retried for command_retry_timeout.
    assert "bios-echo" in server.log()[log_before:]
    assert not [line for line in server.log()[log_before:].splitlines()
                if "retrying in" in line and "bios-echo" in line]
    assert secret not in server.log()
    assert secret not in json.dumps(_ok(server.call(
        "GET", "/v1/nodes/bios-echo/history?detail=true")))  # events whole, not cut


def test_a_huge_refused_bios_request_gives_a_short_error(server, emulator):
    """500 unknown attributes and a 500 kB value: last_error stays a few lines long.

    Each unknown attribute repeated the registry's names (a Dell has ~400)
    and a refused value was echoed whole, into last_error.
    """
    settings = [{"name": "Knob%03d" % i, "value": "x"} for i in range(500)]
    settings.append({"name": "ProcTurboMode", "value": "E" * 500000})
    steps = [{"interface": "bios", "step": "apply_configuration",
              "args": {"settings": settings}}]
    _managed(server, emulator, "huge-bios", "plain")
    # never read: the step checks the live registry and fails the cleaning
    _ok(_provision(server, "huge-bios", "clean", clean_steps=steps), 202)
    node = _settle(server, "huge-bios")
    assert node["provision_state"] == "clean failed"
    error = node["last_error"]
    assert len(error) < 2000, len(error)
    assert "attributes Knob000, Knob001" in error and "and 480 more do not exist" in error
    assert "SecureBootStatus" in error  # the registry's names, once
    assert "ProcTurboMode: 'EEEE" in error and "(499942 more characters)" in error  # repr: 500,002
    assert len(node["maintenance_reason"]) < 2000  # held (fault clean failure), as briefly
    # cached now (the failed step read it): the API refuses just as briefly
    _ok(_provision(server, "huge-bios", "manage"), 202)
    _ok(server.call("DELETE", "/v1/nodes/huge-bios/maintenance"), 202)
    _ok(_provision(server, "huge-bios", "inspect"), 202)
    assert _settle(server, "huge-bios")["provision_state"] == "manageable"
    status, body = _provision(server, "huge-bios", "clean", clean_steps=steps)
    assert status == 400 and len(body["error_message"]) < 2500, len(body["error_message"])
