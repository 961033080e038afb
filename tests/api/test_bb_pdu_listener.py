"""PDUDaemon listener hardening: what hostile or careless clients can do.

Same setting as test_pdudaemon.py (whose fixtures are reused): real snmp
nodes on SQLite, the real conductor service, the snmpsim PDU.
"""

import logging
import time

import pytest

from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from tests.api.test_pdudaemon import CTX
from tests.api.test_pdudaemon import (client, nodes, service,  # noqa: F401 (fixtures)
                                      tcp_listener)


def test_client_text_cannot_forge_log_lines_or_break_the_answer(client, nodes,  # noqa: F811
                                                                 caplog):
    """Percent-encoded newlines and NULs come back escaped, in the log and the answer."""
    caplog.set_level(logging.INFO, logger="hwdrivers.api.pdudaemon")
    forged = "2026-01-01 00:00:00,000 CRITICAL hwdrivers.conductor: forged"
    queries = [
        "/power/control/on?hostname=evil%%0A%s&port=1" % forged.replace(" ", "%20"),
        "/power/control/on%%0A%s?alias=pdu-node-11" % forged.replace(" ", "%20"),
        "/power/control/on?alias=pdu-node-11&x%%0A%s=1" % forged.replace(" ", "%20"),
        "/power/control/on?hostname=%00pdu&port=1",
    ]
    for query in queries:
        response = client.get(query)
        assert response.status_code in (400, 404), response.text
        body = response.text
        assert body.endswith("\n") and body.count("\n") == 1, body
        assert "\x00" not in body
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged.count("refused") == len(queries)
    for line in logged.splitlines():
        assert line.startswith("PDUDaemon request "), line
    assert "\x00" not in logged and "\\x00pdu" in logged


# -- TCP listener -----------------------------------------------------------------------

def test_tcp_client_dribbling_bytes_is_cut_off_at_read_timeout(tcp_listener,  # noqa: F811
                                                               monkeypatch):
    """READ_TIMEOUT bounds the whole request, not each recv: a byte every
    0.2 s must not hold a connection slot past it."""
    import socket

    from hwdrivers.api import pdudaemon_tcp
    monkeypatch.setattr(pdudaemon_tcp, "READ_TIMEOUT", 0.6)
    with socket.create_connection(("127.0.0.1", tcp_listener.effective_port),
                                  timeout=10) as sock:
        started = time.monotonic()
        answer = b""
        for _ in range(40):  # 8 s of dribbling at most
            try:
                sock.sendall(b"x")
            except OSError:
                break
            time.sleep(0.2)
            sock.setblocking(False)
            try:
                answer += sock.recv(4096)
            except BlockingIOError:
                pass
            except OSError:
                break
            finally:
                sock.setblocking(True)
            if answer:
                break
        elapsed = time.monotonic() - started
    assert answer.startswith(b"nack: "), answer
    assert elapsed < 2.0, "the connection was held %.1fs" % elapsed


def test_waiting_delayed_request_does_not_hold_up_the_stop(client, service, nodes,  # noqa: F811
                                                           caplog):
    """A delay=30 'off' still waiting held the graceful stop for its whole
    timeout, then vanished without a word; it is dropped at once, and logged."""
    caplog.set_level(logging.INFO, logger="hwdrivers.api.pdudaemon")
    service.manager.change_power_state(CTX, "pdu-node-12", "power on")
    response = client.get("/power/control/off?alias=pdu-node-12&delay=30")
    assert response.status_code == 200, response.text
    time.sleep(0.2)
    started = time.monotonic()
    assert service.stop(timeout=10) is True
    assert time.monotonic() - started < 3.0
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "power off of node pdu-node-12" in dropped[0], dropped
    assert db_api.get_node("pdu-node-12")["power_state"] == "power on"


@pytest.mark.parametrize("stored,asked", [
    ("[::1]", "::1"),
    ("::1", "%5B::1%5D"),
    ("0:0:0::1", "::1"),
    ("PDU-05.lab", "pdu-05.LAB"),
])
def test_pdu_address_written_another_way_finds_the_node(client, service, snmp_agent,  # noqa: F811
                                                        stored, asked):
    """The driver (and its per-PDU queue) reads these as one PDU; the lookup
    compared raw strings, so pduclient got 'No node has ...' (404)."""
    service.manager.create_node(CTX, {
        "driver": "snmp", "name": "board",
        "driver_info": snmp_agent.driver_info("apc", 4, snmp_address=stored)})
    with task_manager.acquire(CTX, "board", purpose="hold"):  # nothing runs yet
        response = client.get("/power/control/on?hostname=%s&port=4" % asked)
    assert response.status_code == 200, response.text  # found, then queued
    assert "of node board" in response.text
