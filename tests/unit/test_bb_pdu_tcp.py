"""PDUDaemon listener error paths, with stand-in services that fail where a
real one rarely does (the real service is in tests/api/test_pdudaemon.py)."""

import logging
import socket
import threading

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.api import pdudaemon_tcp


class _BrokenManager:
    workers = None

    def nodes_with_driver_info_key(self, context, key):
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


def test_unexpected_failure_after_a_delay_is_logged(config, caplog, monkeypatch):
    """The delayed request runs in a worker whose Future nobody reads: an
    exception other than HWDriversError vanished without a log line."""
    import time
    import types

    from hwdrivers.api import pdudaemon
    from hwdrivers.conductor import workers as workers_mod

    class Manager:
        workers = workers_mod.WorkerPool(2)

        def get_node(self, context, ident):
            return types.SimpleNamespace(uuid="u-1", ident="board-1")

        def change_power_state(self, context, ident, target, **kwargs):
            raise RuntimeError("database is locked")

    caplog.set_level(logging.ERROR, logger="hwdrivers.api.pdudaemon")
    # The stand-in node has no database row for the up-front check to read;
    # what fails here is the run after the delay.
    monkeypatch.setattr(pdudaemon.Listener, "_check", staticmethod(lambda *args: None))
    service = types.SimpleNamespace(manager=Manager())
    status, text = pdudaemon.Listener(service, hw_conf.CONF).handle(
        "off", {"alias": "board-1", "delay": "0.01"})
    assert status == 200, text
    assert service.manager.workers.wait_idle(10)
    deadline = time.monotonic() + 5
    while not caplog.records and time.monotonic() < deadline:
        time.sleep(0.01)
    [record] = caplog.records
    assert "power off of node board-1" in record.getMessage()
    assert "database is locked" in caplog.text
