"""PDUDaemon TCP listener error paths (a stand-in service; the real one is in
tests/api/test_pdudaemon.py)."""

import logging
import socket
import threading

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.api import pdudaemon_tcp


class _BrokenManager:
    workers = None

    def list_nodes(self, context):
        raise RuntimeError("database is locked")


class _Service:
    manager = _BrokenManager()


@pytest.fixture
def listener(config):
    server = pdudaemon_tcp.TCPListener(_Service(), "127.0.0.1", 0, hw_conf.CONF)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server
    server.close()
    thread.join(10)


def test_unexpected_failure_answers_nack_and_logs_the_traceback(listener, caplog):
    """It was unanswered (pduclient: "replied: " and nothing), with the traceback
    on stderr from socketserver instead of the log."""
    caplog.set_level(logging.ERROR, logger="hwdrivers.api.pdudaemon_tcp")
    with socket.create_connection(("127.0.0.1", listener.effective_port), timeout=10) as sock:
        sock.sendall(b"192.0.2.1 4 on")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer == b"nack: internal error; see the hwdrivers-server log\n"
    [record] = caplog.records
    assert "192.0.2.1 4 on" in record.getMessage()
    assert "database is locked" in caplog.text  # the traceback
