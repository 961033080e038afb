"""A paste larger than the relay's input queue reaches the machine whole.

A real relay running ``sh`` on its pseudo-terminal (no BMC needed). While
the session was not reading (a slow BMC, a machine busy at a boot prompt),
everything past :data:`console_relay.INPUT_BUFFER` was lost, silently: the
relay went on reading the client and threw the rest away. Now it stops
reading the client until the session takes more (TCP backpressure).
"""

import threading

from hwdrivers.conductor import console_relay
from tests.unit import sh_relay
from tests.waits import wait_for

_relay = sh_relay.start
_connect = sh_relay.connect
_size = sh_relay.size


def test_a_paste_larger_than_the_input_queue_is_not_lost(tmp_path):
    out = tmp_path / "typed"
    go = tmp_path / "go"
    # The machine does not read its console until told to, then takes it all.
    relay = _relay(tmp_path, "echo READY; while [ ! -e %s ]; do sleep 0.05; done; "
                             "exec cat > %s" % (go, out))
    client = _connect(relay)
    try:
        paste = bytes(range(32, 127)) * (4 * console_relay.INPUT_BUFFER // 95)
        done = threading.Event()  # the paste is sent by a thread: it may block

        def send():
            client.sendall(paste)
            done.set()
        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        # Give the relay time to take what it can while the machine does not read.
        wait_for(lambda: len(relay._to_session) >= console_relay.INPUT_BUFFER // 2, 10,
                 message="the relay queues input")
        go.touch()
        wait_for(lambda: _size(out) >= len(paste), 15, interval=0.05,
                 message="the whole paste typed (%d bytes)" % len(paste))
        assert done.wait(5)
        thread.join(5)
        assert out.read_bytes() == paste
    finally:
        client.close()
        relay.stop()
