"""ipmitool's escape is doubled where the *session* is at a line start.

A real relay running ``sh`` on its pseudo-terminal (no BMC needed). The
relay doubles ``~`` after a newline so that ipmitool passes it on. It kept
its line-start state across sessions and reset it per client: after a
restart, a ``~.`` typed mid-line (for the relay) was at the new ipmitool's
line start and ended the session; after a client left mid-line, the next
client's ``~`` was doubled where ipmitool did not expect it, so the machine
got ``~~``.
"""

import socket

from hwdrivers.conductor import console_relay
from tests.unit import sh_relay
from tests.waits import wait_for

_relay = sh_relay.start
_connect = sh_relay.connect
_size = sh_relay.size


def test_escape_follows_the_session_line_not_the_client(tmp_path):
    out = tmp_path / "typed"
    count = tmp_path / "count"
    # First session: takes 3 bytes mid-line and ends (a BMC reset); the next
    # ones record what reaches them.
    script = ("n=$(cat %s 2>/dev/null || echo 0); echo $((n+1)) > %s; echo READY; "
              "if [ $n = 0 ]; then head -c 3 > /dev/null; exit 0; fi; exec cat >> %s"
              % (count, count, out))
    relay = _relay(tmp_path, script, escape=b"~")
    client = _connect(relay)
    try:
        client.sendall(b"abc")  # mid-line, then the session ends and comes back
        wait_for(lambda: relay.restarts == 1 and relay.state == console_relay.ON, 15,
                 interval=0.05, message="the session restarted")
        client.sendall(b"~.x\r")
        wait_for(lambda: _size(out) >= 4, 10, message="typed into the new session")
        # At the new session's line start: doubled, so ipmitool passes "~." on.
        assert out.read_bytes() == b"~~.x\r"

        client.sendall(b"mid")  # this client leaves mid-line; the session goes on
        client.shutdown(socket.SHUT_WR)  # (a close with unread data would be a reset)
        wait_for(lambda: relay.client_address is None, 5, message="client gone")
        client.close()
        client = _connect(relay)
        client.sendall(b"~y")
        wait_for(lambda: _size(out) >= 10, 10, interval=0.05,
                 message="what the next client typed")
        # Not at the session's line start: ipmitool takes "~" as it is.
        assert out.read_bytes() == b"~~.x\rmid~y"
    finally:
        client.close()
        relay.stop()
