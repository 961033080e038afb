"""The relay survives events that went stale within one round of select().

One ``select()`` may report several ready descriptors, and a handler may
close what a later one is about: the session ending (its status pipe)
unregisters the session's terminal, whose hang-up the same round also
reported; a client dropped for not reading while the session printed may
still have input in the same round. The kernel orders those events as it
likes, so these tests put them in the damaging order themselves (the only
thing faked is that order) and check that the console goes on: a restart,
not a relay failure that turns the console off.
"""

import socket
import threading
import time
import types

from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_relay
from hwdrivers.drivers.modules import console_base
from tests.waits import wait_for


def _listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2)
    return sock


class _OrderedSelector:
    """The relay's real selector, its ready list sorted by ``order`` (data names)."""

    def __init__(self, selector, order):
        self._selector = selector
        self._order = order

    def select(self, timeout=None):
        events = self._selector.select(timeout)
        return sorted(events, key=lambda ev: self._order.index(ev[0].data)
                      if ev[0].data in self._order else len(self._order))

    def __getattr__(self, name):
        return getattr(self._selector, name)


def test_session_end_reported_with_its_terminal_hang_up_restarts(tmp_path):
    conf = types.SimpleNamespace(idle_timeout=0, start_timeout=10, restart_limit=2,
                                 allowed_clients=[])
    # The program prints and exits: its terminal's hang-up and the status
    # pipe's report become ready together.
    command = console_base.ConsoleCommand(
        argv=["/bin/sh", "-c", "echo READY; sleep 0.5; echo bye; exit 3"],
        env={"PATH": "/bin:/usr/bin"}, ready_marker=b"READY")
    log = console_log.ConsoleLog(str(tmp_path / "console.log"), 100000, 0)
    failures = []
    relay = console_relay.Relay("node-uuid", "node", command, _listener(), log, conf,
                                lambda r, reason: failures.append(reason))
    relay._selector = _OrderedSelector(relay._selector, ["status", "output"])
    relay.start()
    try:
        assert relay.wait_outcome(10) == console_relay.ON
        wait_for(lambda: relay.restarts >= 1, 10, interval=0.05,
                 message="the ended session restarted")
        assert not failures, failures
        assert relay.state in (console_relay.STARTING, console_relay.ON,
                               console_relay.RESTARTING)
    finally:
        relay.stop()
    assert not failures, failures


def _type_until_dropped(client):
    try:
        for _ in range(2000):
            client.sendall(b"a" * 4096)
    except OSError:
        pass


def test_client_dropped_in_the_round_it_also_typed_in(tmp_path, monkeypatch):
    monkeypatch.setattr(console_relay, "CLIENT_BUFFER", 4096)
    conf = types.SimpleNamespace(idle_timeout=0, start_timeout=10, restart_limit=0,
                                 allowed_clients=[])
    # A chatty machine, and a client that types but never reads: it is
    # dropped for not reading while its own input is ready in the same round.
    command = console_base.ConsoleCommand(
        argv=["/bin/sh", "-c", "echo READY; while :; do echo "
              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done"],
        env={"PATH": "/bin:/usr/bin"}, ready_marker=b"READY")
    log = console_log.ConsoleLog(str(tmp_path / "console.log"), 1 << 20, 0)
    failures = []
    relay = console_relay.Relay("node-uuid", "node", command, _listener(), log, conf,
                                lambda r, reason: failures.append(reason))
    relay._selector = _OrderedSelector(relay._selector, ["output", "client"])
    relay.start()
    client = None
    try:
        assert relay.wait_outcome(10) == console_relay.ON
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", relay.port_number))
        # Typing all the time (its input is always ready), reading never.
        typist = threading.Thread(target=_type_until_dropped, args=(client,), daemon=True)
        typist.start()
        wait_for(lambda: relay.client_address is not None or not typist.is_alive(), 10,
                 interval=0.001, message="client accepted")
        typist.join(10)
        wait_for(lambda: relay.client_address is None, 10, interval=0.01,
                 message="the client that does not read dropped")
        time.sleep(0.3)
        assert relay.state == console_relay.ON, (relay.state, failures)
    finally:
        if client is not None:
            client.close()
        relay.stop()
    assert not failures, failures
