"""A second client is told who holds the console, even if it typed at once.

A real relay running ``sh``. The second client of a console is refused with
"in use by ... one client at a time". One that sent something as it
connected (a paste, a telnet negotiation, a script's first line) got a TCP
reset instead: the relay closed its socket with that input unread, and the
reset made the client drop the message it had not read yet.
"""

import socket

from tests.unit import sh_relay


def test_second_client_that_typed_at_once_reads_why_it_is_refused(tmp_path):
    relay = sh_relay.start(tmp_path, "echo READY; exec cat > /dev/null", restart_limit=0,
                           backlog=8)
    first = sh_relay.connect(relay)
    try:
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
