"""A client being disconnected reads why, even with its typing still queued.

A real relay running ``sh`` that does not read its console (a hung session,
a slow BMC). The client has typed more than the relay takes; when the
console was closed (disabled, the conductor stopping) the relay closed the
socket with that input unread, which is a TCP reset: the client lost the
"console was closed" line (and whatever output was still on its way) and
saw "connection reset by peer" instead.
"""

import socket
import types

from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_relay
from hwdrivers.drivers.modules import console_base
from tests.waits import wait_for


def test_closed_console_tells_a_client_whose_input_is_queued(tmp_path):
    conf = types.SimpleNamespace(idle_timeout=0, start_timeout=10, restart_limit=0,
                                 allowed_clients=[])
    command = console_base.ConsoleCommand(
        argv=["/bin/sh", "-c", "echo READY; exec sleep 60"],
        env={"PATH": "/bin:/usr/bin"}, ready_marker=b"READY")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)
    log = console_log.ConsoleLog(str(tmp_path / "console.log"), 1 << 20, 0)
    relay = console_relay.Relay("node-uuid", "node", command, listener, log, conf,
                                None, None)
    relay.start()
    assert relay.wait_outcome(10) == console_relay.ON
    client = socket.create_connection(("127.0.0.1", relay.port_number), timeout=10)
    try:
        wait_for(lambda: relay.client_address is not None, 5, message="client accepted")
        client.sendall(b"x" * (256 << 10))  # the socket buffers hold what the relay does not
        wait_for(lambda: len(relay._to_session) >= console_relay.INPUT_BUFFER, 10,
                 message="the relay's input queue full")
        relay.stop()
        received = b""
        client.settimeout(10)
        while True:
            data = client.recv(65536)  # ConnectionResetError before the fix
            if not data:
                break
            received += data
        assert b"hwdrivers: the console was closed" in received
    finally:
        client.close()
        relay.stop()
