"""PDUDaemon's TCP request protocol, for ``pduclient`` in its default mode.

``pduclient`` (and the LAVA device dictionaries that call it) connects to
port 16421, sends one request with no terminator and no framing::

    <PDU hostname> <outlet> <on|off|reboot>[ <delay seconds>]

and reads the answer until the daemon closes the connection: ``ack`` when
the request was accepted; anything else is an error it prints. Against an
HTTP listener it therefore waits forever for an answer to a request line
that never ends. pduclient uses port 16421 for its HTTP mode (``-H``) as
well, so PDUDaemon serves one protocol or the other, chosen in its config;
hwdrivers does the same with ``[pdudaemon] listener = http|tcp`` rather
than guessing the protocol from the first bytes of an unframed request.

The request goes to the HTTP listener's :class:`pdudaemon.Listener`, so
both protocols share the parsing, the node lookup and the conductor's
queues; a refusal answers ``nack: <why>``, which pduclient shows.
"""

import logging
import socket
import socketserver
import threading
import time

from hwdrivers.api import pdudaemon

LOG = logging.getLogger(__name__)

#: Longest request read (PDUDaemon reads 16 KiB too); longer is refused.
MAX_REQUEST = 16384
#: Seconds a client may take to send its request.
READ_TIMEOUT = 5.0
#: Connections served at once; more are answered "nack" at once.
MAX_CONNECTIONS = 16
USAGE = "send '<PDU address> <outlet> <on|off|reboot>[ <delay seconds>]'"


def parse_request(text: str) -> tuple[str, dict]:
    """``(command, args)`` for :meth:`pdudaemon.Listener.handle`; ValueError saying why."""
    fields = text.split()
    if len(fields) not in (3, 4):
        raise ValueError("expected 3 or 4 fields, got %d: %s" % (len(fields), USAGE))
    hostname, outlet, command = fields[:3]
    if command not in pdudaemon.TARGETS:
        raise ValueError("unknown command %r: %s" % (command, USAGE))
    args = {"hostname": hostname, "port": outlet}
    if len(fields) == 4:
        args["delay"] = fields[3]
    return command, args


def _complete(data: bytes) -> bool:
    """True once ``data`` holds a whole request (pduclient sends no terminator)."""
    if b"\n" in data:
        return True
    fields = data.split()
    return len(fields) in (3, 4) and fields[2].decode("ascii", "replace") in pdudaemon.TARGETS


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        # One deadline for the whole request, not a timeout per recv: a client
        # sending a byte every few seconds would otherwise keep its connection
        # slot for hours, and MAX_CONNECTIONS of them lock out every pduclient.
        deadline = time.monotonic() + READ_TIMEOUT
        data = b""
        try:
            while len(data) <= MAX_REQUEST:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(MAX_REQUEST + 1 - len(data))
                data += chunk
                if not chunk or _complete(data):
                    break
        except TimeoutError:
            if not data.strip():
                LOG.info("PDUDaemon TCP client %s sent no request within %gs",
                         self.client_address[0], READ_TIMEOUT)
                return
        except OSError:
            return
        try:
            answer = self.server.answer(data)
            sock.settimeout(READ_TIMEOUT)  # not what was left of the read's deadline
            sock.sendall(answer.encode("utf-8"))
        except OSError:
            pass


class TCPListener(socketserver.ThreadingTCPServer):
    """PDUDaemon's TCP listener; ``run``/``close`` like the waitress servers."""

    daemon_threads = True
    allow_reuse_address = True
    scheme = "tcp"

    def __init__(self, service, host: str, port: int, conf=None):
        if conf is None:
            from hwdrivers.conf import CONF as conf
        pdudaemon.check_config(conf)
        self.listener = pdudaemon.Listener(service, conf)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._state = threading.Lock()
        self._running = self._closed = False
        super().__init__((host, port), _Handler)

    @property
    def effective_host(self):
        return self.server_address[0]

    @property
    def effective_port(self):
        return self.server_address[1]

    def answer(self, data: bytes) -> str:
        """The reply line for one raw request."""
        if len(data) > MAX_REQUEST:
            return "nack: request longer than %d bytes: %s\n" % (MAX_REQUEST, USAGE)
        try:
            command, args = parse_request(data.decode("utf-8"))
        except UnicodeDecodeError:
            return "nack: request is not UTF-8 text: %s\n" % USAGE
        except ValueError as exc:
            LOG.info("PDUDaemon TCP request %r refused: %s", data[:200], exc)
            return "nack: %s\n" % exc
        try:
            status, text = self.listener.handle(command, args)
        except Exception:  # noqa: BLE001 (the HTTP listener's 500, in this protocol)
            # Unanswered, socketserver printed the traceback to stderr, outside
            # the log, and pduclient reported an empty reply.
            LOG.exception("PDUDaemon TCP request %r failed", data[:200])
            return "nack: internal error; see the hwdrivers-server log\n"
        return "ack\n" if status == 200 else "nack: %s\n" % text

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(b"nack: too many connections; try again\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def run(self):
        with self._state:
            if self._closed:
                return
            self._running = True
        self.serve_forever(poll_interval=0.5)

    def close(self):
        with self._state:
            self._closed, running = True, self._running
        if running:  # shutdown() would wait forever for a loop that never ran
            self.shutdown()
        self.server_close()
