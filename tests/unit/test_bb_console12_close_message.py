"""A client being disconnected reads why, even with its typing still queued.

A real relay running ``sh`` that does not read its console (a hung session,
a slow BMC). The client has typed more than the relay takes; when the
console was closed (disabled, the conductor stopping) the relay closed the
socket with that input unread, which is a TCP reset: the client lost the
"console was closed" line (and whatever output was still on its way) and
saw "connection reset by peer" instead.
"""


from hwdrivers.conductor import console_relay
from tests.unit import sh_relay
from tests.waits import wait_for


def test_closed_console_tells_a_client_whose_input_is_queued(tmp_path):
    relay = sh_relay.start(tmp_path, "echo READY; exec sleep 60", restart_limit=0)
    client = sh_relay.connect(relay)
    try:
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
