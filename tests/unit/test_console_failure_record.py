"""A console that gives up: the node's record and the relay's state always agree.

When a session dies past ``[console] restart_limit`` the relay records the
failure on the node (console_enabled false, console_error) *before* its
state says ``failed``, under ``relay.transition``; ``get_console`` reads
the state under that lock. These tests pin both halves without a BMC: a
real relay running ``sh``, and the manager's document for a relay caught
at each moment of its failure.
"""

import socket
import threading
import types

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_manager
from hwdrivers.conductor import console_relay
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import console_base
from tests.waits import wait_for

REASON = ("the console session ended (exit 3); gave up after 0 restart(s) in a row "
          "([console] restart_limit)")


def _listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2)
    return sock


def test_failure_is_recorded_before_the_relay_says_failed(tmp_path):
    conf = types.SimpleNamespace(idle_timeout=0, start_timeout=10, restart_limit=0,
                                 allowed_clients=[])
    command = console_base.ConsoleCommand(
        argv=["/bin/sh", "-c", "echo READY; sleep 0.3; exit 3"], env={"PATH": "/bin:/usr/bin"},
        ready_marker=b"READY")
    log = console_log.ConsoleLog(str(tmp_path / "console.log"), 100000, 0)
    seen = {}
    closed = []

    def on_failed(relay, reason):
        seen["state when recording"] = relay.state
        seen["reason"] = reason
        reader_saw = []
        reader = threading.Thread(target=lambda: reader_saw.append(_read_state(relay)))
        reader.start()
        reader.join(0.3)  # a reader under the lock waits for the record to be complete
        seen["reader blocked while recording"] = reader.is_alive()
        seen["reader"] = (reader, reader_saw)

    def on_closed(relay):
        closed.append((relay.state, relay.listener.fileno()))

    relay = console_relay.Relay("node-uuid", "node", command, _listener(), log, conf,
                                on_failed, on_closed)
    relay.start()
    assert relay.wait_outcome(10) == console_relay.ON
    wait_for(lambda: relay.state == console_relay.FAILED, 20, message="the relay gives up")
    relay.join(20)
    assert seen["state when recording"] != console_relay.FAILED
    assert "restart_limit" in seen["reason"] and relay.reason == seen["reason"]
    assert seen["reader blocked while recording"] is True
    reader, reader_saw = seen["reader"]
    reader.join(5)
    assert reader_saw == [console_relay.FAILED]  # never the old state once recorded
    assert closed == [(console_relay.FAILED, -1)]  # after the listener closed: port free


def _read_state(relay):
    with relay.transition:
        return relay.state


class _Relay:
    """A relay caught at one moment of its life (what get_console reads)."""

    def __init__(self, node, state, ever_up, reason=None):
        self.node = node
        self.state = state
        self.ever_up = ever_up
        self.retrying = False  # a restore's relay still retrying its first start
        self.last_error = None
        self.reason = reason
        self.transition = threading.Lock()
        self.port_number = 1
        self.client_address = None


def _document(node, relay):
    manager = console_manager.ConsoleManager()
    manager._relays[node["uuid"]] = relay
    return manager.get_console(hw_context.get_admin_context(), node["uuid"])


def test_failed_relay_is_reported_with_its_record_even_if_the_read_came_first(
        sqlite_database):
    # The node was read before the relay recorded its failure: the record still
    # says enabled. The document must not pair that with "failed".
    node = db_api.create_node({"driver": "fake-hardware", "console_enabled": True})
    doc = _document(node, _Relay(node["uuid"], console_relay.FAILED, True, REASON))
    assert doc == {"console_enabled": False, "console_info": None,
                   "console_state": "failed", "console_error": REASON}
    # Once the record is read too, the same document.
    db_api.update_node(node["id"], {"console_enabled": False, "console_error": REASON})
    doc_after = _document(node, _Relay(node["uuid"], console_relay.FAILED, True, REASON))
    assert doc_after == doc
    manager = console_manager.ConsoleManager()
    assert manager.get_console(hw_context.get_admin_context(), node["uuid"]) == doc


def test_relay_that_never_came_up_is_starting_until_its_starter_records(sqlite_database):
    # Restoring after a restart: the record says enabled, the start failed; the
    # restore records the outcome next. Meanwhile: starting, not failed + enabled.
    node = db_api.create_node({"driver": "fake-hardware", "console_enabled": True})
    doc = _document(node, _Relay(node["uuid"], console_relay.FAILED, False, "no BMC"))
    assert doc["console_state"] == "starting" and doc["console_enabled"] is True


def test_manager_records_only_failures_of_current_relays_that_were_up(sqlite_database):
    node = db_api.create_node({"driver": "fake-hardware", "console_enabled": True})
    manager = console_manager.ConsoleManager()
    never_up = _Relay(node["uuid"], console_relay.ON, False)
    manager._relays[node["uuid"]] = never_up
    manager._relay_failed(never_up, "did not start")
    assert db_api.get_node(node["id"])["console_enabled"] is True  # its starter records
    was_up = _Relay(node["uuid"], console_relay.ON, True)
    manager._relays[node["uuid"]] = was_up
    manager._relay_failed(was_up, REASON)
    record = db_api.get_node(node["id"])
    assert (record["console_enabled"], record["console_error"]) == (False, REASON)
