"""ironic-python-agent's automatic TLS: an https agent and the certificate it heartbeats.

IPA (``enable_auto_tls``, its default) serves its API over https with a
certificate it makes itself whenever the Ironic API is 1.68 or newer (ours
says 1.87), and sends that certificate in each heartbeat as
``agent_verify_ca``. The conductor dropped it and verified the agent
against the system CAs: every command failed CERTIFICATE_VERIFY_FAILED, so
no deploy with a real IPA could finish. Now the certificate is kept for
the deploy and the agent verified against it; as Ironic, a heartbeat that
would swap it is refused.
"""

import http.server
import json
import ssl
import threading
import types

import pytest

from hwdrivers.common import exception
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import direct
from hwdrivers.testing import certificates
from tests.api.conftest import row

TOKEN = "agent-token-of-the-deploy-0123456789abcdef"


def _ipa_certificate(directory):
    """A certificate as IPA's tls_utils makes it: self-signed, P-384, SHA-512, no
    basic constraints, a critical subjectAltName of the agent's IP alone."""
    return certificates.write_self_signed(directory, "agent", "127.0.0.1", curve="SECP384R1",
                                          digest="SHA512", ca=False, critical_san=True,
                                          days=30)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Two IPA-made certificates for 127.0.0.1: (cert path, key path, PEM) each."""
    made = []
    for name in ("a", "b"):
        cert, key = _ipa_certificate(tmp_path_factory.mktemp("agent-tls-" + name))
        made.append((cert, key, open(cert).read()))
    return made


@pytest.fixture
def https_agent(certs):
    """An IPA-like agent serving POST /v1/commands/ over https with certificate ``a``."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"id": "c1", "command_name": "sync", "command_status":
                               "SUCCEEDED", "command_error": None,
                               "command_result": None}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs[0][0], certs[0][1])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "https://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def _task(url, verify_ca):
    node = types.SimpleNamespace(ident="n1", driver_internal_info={
        "agent_url": url, "agent_secret_token": TOKEN, "agent_verify_ca": verify_ca})
    return types.SimpleNamespace(node=node)


def test_commands_reach_an_https_agent_through_its_own_certificate(https_agent, certs):
    result = direct.client(_task(https_agent, certs[0][2])).start("standby.sync", {})
    assert result["command_status"] == "SUCCEEDED"


def test_another_certificate_or_none_is_not_trusted(https_agent, certs):
    for verify_ca in (certs[1][2], None):
        with pytest.raises(exception.DriverConnectionError, match="CERTIFICATE_VERIFY"):
            direct.client(_task(https_agent, verify_ca)).start("standby.sync", {})


def _waiting(make_node, name):
    make_node(name)
    db_api.update_node(row(name)["id"], {
        "provision_state": "wait call-back", "maintenance": True,
        "driver_internal_info": {"agent_secret_token": TOKEN}})


def _beat(api, name, pem, url="https://127.0.0.1:9999"):
    return api.post("/v1/heartbeat/%s" % name, {
        "callback_url": url, "agent_token": TOKEN, "agent_version": "9.0.0",
        "agent_verify_ca": pem}, headers={"X-OpenStack-Ironic-API-Version": "1.68"})


def test_the_heartbeats_certificate_is_kept_and_a_swap_refused(api, make_node, certs):
    _waiting(make_node, "tls1")
    assert _beat(api, "tls1", certs[0][2]).status_code == 202
    assert row("tls1")["driver_internal_info"]["agent_verify_ca"] == certs[0][2]
    assert _beat(api, "tls1", certs[0][2]).status_code == 202
    resp = _beat(api, "tls1", certs[1][2])
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "agent_verify_ca differs" in resp.get_data(as_text=True)
    assert row("tls1")["driver_internal_info"]["agent_verify_ca"] == certs[0][2]


@pytest.mark.parametrize("pem,url,words", [
    ("not a certificate", "https://127.0.0.1:9999", "not a PEM certificate"),
    (None, "http://127.0.0.1:9999", "not an https URL"),
])
def test_a_certificate_that_cannot_serve_is_refused(api, make_node, certs, pem, url, words):
    _waiting(make_node, "tls2")
    resp = _beat(api, "tls2", pem or certs[0][2], url=url)
    assert resp.status_code == 400 and words in resp.get_data(as_text=True)
    assert "agent_verify_ca" not in row("tls2")["driver_internal_info"]
