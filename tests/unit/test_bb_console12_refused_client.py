"""A second client is told who holds the console, even if it typed at once.

A real relay running ``sh``. The second client of a console is refused with
"in use by ... one client at a time". One that sent something as it
connected (a paste, a telnet negotiation, a script's first line) got a TCP
reset instead: the relay closed its socket with that input unread, and the
reset made the client drop the message it had not read yet.
"""

import socket
import types

from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_relay
from hwdrivers.drivers.modules import console_base
from tests.waits import wait_for


def test_second_client_that_typed_at_once_reads_why_it_is_refused(tmp_path):
    conf = types.SimpleNamespace(idle_timeout=0, start_timeout=10, restart_limit=0,
                                 allowed_clients=[])
    command = console_base.ConsoleCommand(
        argv=["/bin/sh", "-c", "echo READY; exec cat > /dev/null"],
        env={"PATH": "/bin:/usr/bin"}, ready_marker=b"READY")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    log = console_log.ConsoleLog(str(tmp_path / "console.log"), 1 << 20, 0)
    relay = console_relay.Relay("node-uuid", "node", command, listener, log, conf,
                                None, None)
    relay.start()
    assert relay.wait_outcome(10) == console_relay.ON
    first = socket.create_connection(("127.0.0.1", relay.port_number), timeout=10)
    try:
        wait_for(lambda: relay.client_address is not None, 5, message="first client")
        for _ in range(5):
            second = socket.create_connection(("127.0.0.1", relay.port_number),
                                              timeout=10)
            second.sendall(b"root\r\n" * 100)
            received = b""
            try:
                while True:
                    data = second.recv(4096)  # ConnectionResetError before the fix
                    if not data:
                        break
                    received += data
            finally:
                second.close()
            assert b"one client at a time" in received, received
    finally:
        first.close()
        relay.stop()
