"""Controllers that never answer, and ports nobody listens on, on 127.0.0.1.

A hung BMC or PDU is the case deadlines exist for: the peer takes the
connection (or the datagram) and then says nothing, so only the caller's
own timeouts end the wait. A closed port is the other common failure: the
kernel refuses at once (TCP reset, ICMP port unreachable), and a tool that
retries internally may still take a long time to give up. Every driver's
deadline is tested against both.

Peers (each has ``host``, ``port`` and ``address``), and their fixtures
(:class:`BlackHoleFixture`, :class:`ClosedPortFixture`: ``.peer``):

- ``BlackHole("tcp")``: accepts every connection, reads and discards what
  the client sends, never writes a byte (``.accepted``: connections taken);
- ``BlackHole("udp")``: receives every datagram, never replies
  (``.received``: datagrams received);
- ``ClosedPort("tcp")``: a port bound but not listening, so connecting gets
  a reset (the socket stays bound, so no one else can take the port);
- ``ClosedPort("udp")``: a port nothing is bound to (taken from the kernel
  and released), so datagrams get ICMP port unreachable.
"""

import selectors
import socket
import threading

from hwdrivers.testing import processes

__all__ = ["HOST", "BlackHole", "ClosedPort", "BlackHoleFixture", "ClosedPortFixture"]

HOST = "127.0.0.1"


class BlackHole:
    """A socket on ``HOST`` served by a thread that never answers."""

    def __init__(self, kind):
        self.kind = kind
        self.accepted = 0
        self.received = 0
        self._stop = threading.Event()
        sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
        self._socket = socket.socket(socket.AF_INET, sock_type)
        self._socket.bind((HOST, 0))
        if kind == "tcp":
            self._socket.listen(128)
        self._socket.setblocking(False)
        self.host, self.port = self._socket.getsockname()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="blackhole-%s-%d" % (kind, self.port))
        self._thread.start()

    @property
    def address(self):
        return (self.host, self.port)

    def _serve(self):
        clients = []
        with selectors.DefaultSelector() as selector:
            selector.register(self._socket, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    sock = key.fileobj
                    try:
                        if sock is self._socket and self.kind == "tcp":
                            client, _ = sock.accept()
                            client.setblocking(False)
                            clients.append(client)
                            selector.register(client, selectors.EVENT_READ)
                            self.accepted += 1
                        elif sock is self._socket:
                            sock.recvfrom(65536)
                            self.received += 1
                        elif not sock.recv(65536):  # the client gave up: forget it
                            selector.unregister(sock)
                            clients.remove(sock)
                            sock.close()
                    except (BlockingIOError, ConnectionError):
                        continue
        for client in clients:
            client.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()


class ClosedPort:
    """A port on ``HOST`` that refuses: TCP bound without listening; UDP released."""

    def __init__(self, kind):
        self.kind = kind
        sock_type = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
        self._socket = socket.socket(socket.AF_INET, sock_type)
        self._socket.bind((HOST, 0))
        self.host, self.port = self._socket.getsockname()
        if kind == "udp":  # a bound UDP socket would receive: let the port go
            self._socket.close()

    @property
    def address(self):
        return (self.host, self.port)

    def close(self):
        self._socket.close()


class _PeerFixture(processes.Fixture):
    """A ``peer_class`` peer (``kind`` ``tcp`` or ``udp``) for one test: ``.peer``."""

    peer_class = None

    def __init__(self, kind="tcp"):
        super().__init__()
        self.kind = kind

    def _setUp(self):
        self.peer = self.peer_class(self.kind)
        self.addCleanup(self.peer.close)


class BlackHoleFixture(_PeerFixture):
    """A :class:`BlackHole` (``kind`` ``tcp`` or ``udp``) for one test: ``.peer``."""

    peer_class = BlackHole


class ClosedPortFixture(_PeerFixture):
    """A :class:`ClosedPort` (``kind`` ``tcp`` or ``udp``) for one test: ``.peer``."""

    peer_class = ClosedPort
