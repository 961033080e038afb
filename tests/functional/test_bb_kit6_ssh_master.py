"""The command driver's shared SSH connection after the network drops it silently.

A control master keeps one TCP connection per SSH target. When a firewall
or NAT forgets that connection's state (a failover, a reboot of the box in
between), its packets are dropped without a reset: the master cannot tell
for ``ServerAliveInterval x ServerAliveCountMax`` (30 s and more), and
every command multiplexed onto it hangs to its timeout. A command that
times out must therefore retire the master, so the next attempt connects
anew. Proven against the real sshd through a relay whose existing
connections can be frozen (what a dropped flow looks like to both ends),
while new connections pass.
"""

import selectors
import socket
import threading

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import command_profile
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask

CONF = hw_conf.CONF


class FreezableRelay:
    """A TCP relay on 127.0.0.1 to ``target``; :meth:`freeze` silences the
    connections relayed so far (kept open, nothing passes either way), as a
    firewall that lost their state would; later connections pass."""

    def __init__(self, target):
        self.target = target
        self.accepted = 0
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._threads = []
        self._sockets = [self._listener]
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self):
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not selector.select(0.1):
                    continue
                client, _ = self._listener.accept()
                server = socket.create_connection(self.target)
                self.accepted += 1
                self._sockets += [client, server]
                frozen = self._frozen if not self._frozen.is_set() else threading.Event()
                relay = threading.Thread(target=self._relay, args=(client, server, frozen),
                                         daemon=True)
                relay.start()
                self._threads.append(relay)

    def _relay(self, client, server, frozen):
        peers = {client: server, server: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set() and not frozen.is_set():
                for key, _ in selector.select(0.1):
                    if frozen.is_set():
                        break
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    peers[key.fileobj].sendall(data)

    def freeze(self):
        self._frozen.set()

    def close(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def relay(sshd):
    peer = FreezableRelay((sshd.host, sshd.port))
    yield peer
    peer.close()


@pytest.fixture
def known_hosts(sshd, relay, tmp_path):
    """The sshd's host key, known under the relay's port."""
    with open(sshd.known_hosts) as handle:
        kind, key = handle.read().split()[1:3]
    path = tmp_path / "known_hosts"
    path.write_text("[%s]:%d %s %s\n" % (sshd.host, relay.port, kind, key))
    return str(path)


@pytest.fixture
def through_relay(config, sshd, relay, known_hosts, tmp_path):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__command_retry_timeout=0.0,
           command__command_timeout=15.0, command__ssh_connect_timeout=5)
    state = tmp_path / "vm.state"
    state.write_text("on\n")
    # Two profiles, one SSH target (so one control master): a patient one, and
    # one whose commands give up soon on the dead connection.
    for name, timeout in (("relayed", 15.0), ("relayed-short", 1.0)):
        command_profile.register_profile(
            CONF, name, power_on="echo on > {state}", power_off="echo off > {state}",
            power_status="cat {state}", timeout=timeout, reboot_delay=0,
            **sshd.profile_options(port=relay.port, known_hosts=known_hosts))
    yield lambda profile: StandaloneTask.for_driver("command", name="vm1", driver_info={
        "command_profile": profile, "state": str(state)})
    ssh.close_masters()


def test_a_timeout_retires_the_master_so_the_next_attempt_reconnects(through_relay, relay):
    task = through_relay("relayed")
    power = task.driver.power
    assert power.get_power_state(task) == PowerState.ON
    target = power._target(power.parse_driver_info(task))
    assert ssh.master_running(target) and relay.accepted == 1

    relay.freeze()  # the master's connection is now silently dead
    short = through_relay("relayed-short")
    with pytest.raises(exception.DriverConnectionError) as err:
        short.driver.power.get_power_state(short)
    assert "did not finish within 1.0s" in str(err.value)
    assert "the next command opens a new connection" in str(err.value)
    assert not ssh.master_running(target)

    # The retry connects anew instead of hanging on the dead connection again.
    power.set_power_state(task, PowerState.OFF)
    assert power.get_power_state(task) == PowerState.OFF
    assert relay.accepted == 2
