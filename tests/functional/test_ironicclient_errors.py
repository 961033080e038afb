"""python-ironicclient's ``baremetal`` meets our errors as it meets Ironic's.

Two things tripped the real client (found by trying it from outside):
- a ``Retry-After`` header on an error crashed it with a ``TypeError``
  (its exception classes refuse the argument), so a locked node printed a
  traceback's last line instead of the message;
- a provision action from the wrong state was a 409, which the client
  retries as a locked node: ~20 s of requests before it showed the error.
"""

import json
import os
import subprocess
import sys

import pytest

from hwdrivers.api import client_quirks
from tests.functional import server_proc
from tests.waits import wait_for

BAREMETAL = os.path.join(os.path.dirname(sys.executable), "baremetal")


@pytest.fixture
def server(tmp_path):
    # An inspection that takes a while keeps the node locked ("inspecting");
    # the server's stop does not wait for it to end.
    with server_proc.running(tmp_path, name="ironicclient-errors",
                             options={"fake": {"inspect_delay": "30"},
                                      "conductor": {"graceful_shutdown_timeout": "1"}}) as proc:
        yield proc


def baremetal(server, tmp_path, *args, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(tmp_path / "home")  # its version cache
    cmd = [BAREMETAL, "--os-endpoint", server.url, "--os-auth-type", "none",
           "--max-retries", "1", "--retry-interval", "1"] + list(args)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, "%s:\n%s%s" % (args, proc.stdout, proc.stderr)
    return proc


def _provision_requests(server, node):
    return [line for line in server.log().splitlines()
            if "PUT /v1/nodes/%s/states/provision" % node in line]


def test_a_locked_node_shows_the_message_not_a_type_error(server, tmp_path):
    baremetal(server, tmp_path, "node", "create", "--driver", "fake-hardware",
              "--name", "busy")
    baremetal(server, tmp_path, "node", "manage", "busy", "--wait", "30")
    baremetal(server, tmp_path, "node", "inspect", "busy")
    wait_for(lambda: json.loads(baremetal(
        server, tmp_path, "node", "show", "busy", "-f", "json").stdout)[
        "provision_state"] == "inspecting", 30, message="inspecting")
    # Another client sees the hint...
    status, body = server.call("PATCH", "/v1/nodes/busy",
                               [{"op": "add", "path": "/extra/k", "value": "v"}])
    assert status == 409, body
    # ...and ironicclient gets the same 409 without it: its message, its retry.
    proc = baremetal(server, tmp_path, "node", "set", "busy", "--extra", "k=v",
                     check=False)
    assert proc.returncode == 1
    assert "is locked by" in proc.stderr and "inspecting" in proc.stderr, proc.stderr
    assert "retry_after" not in proc.stderr and "TypeError" not in proc.stderr


def test_a_provision_action_from_the_wrong_state_fails_at_once(server, tmp_path):
    baremetal(server, tmp_path, "node", "create", "--driver", "fake-hardware",
              "--name", "fresh")
    proc = baremetal(server, tmp_path, "node", "provide", "fresh", check=False)
    assert proc.returncode == 1
    assert "'enroll'" in proc.stderr and "manage" in proc.stderr, proc.stderr
    # One request answered 400, not retried as a locked node would be (a 406
    # may come first: the client's version negotiation, then it asks again).
    lines = [line for line in _provision_requests(server, "fresh") if "-> 406" not in line]
    assert len(lines) == 1 and "-> 400" in lines[0], lines


def _app(headers):
    def app(environ, start_response):
        start_response("409 Conflict", list(headers))
        return [b"{}"]
    return app


@pytest.mark.parametrize("agent, kept", [
    ("python-ironicclient", False),
    ("python-ironicclient keystoneauth1/5.11.1 python-requests/2.32.5 CPython/3.11.7",
     False),
    ("openstacksdk/4.8.0 keystoneauth1/5.11.1 python-requests/2.32.5", True),
    ("curl/7.88.1", True),
    (None, True),
])
def test_retry_after_is_left_out_only_for_clients_that_cannot_take_it(agent, kept):
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["headers"] = headers

    environ = {} if agent is None else {"HTTP_USER_AGENT": agent}
    app = client_quirks.ClientQuirks(_app([("Content-Type", "application/json"),
                                           ("Retry-After", "10")]))
    assert app(environ, start_response) == [b"{}"]
    names = [name for name, _ in seen["headers"]]
    assert ("Retry-After" in names) is kept
    assert "Content-Type" in names
