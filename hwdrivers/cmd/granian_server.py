"""The API's HTTP server: granian's Rust HTTP/1.1 worker, inside this process.

Why granian: under 50 clients the API is bound by per-request CPU under
the GIL, and waitress's pure-Python connection handling is a large part
of it. The same WSGI app, conductor and database serve 1,000+ power
requests/s with p99 under 50 ms from granian's worker, against 600-700
and 70-90 ms from waitress (measured side by side,
``benchmarks/api_server_side_by_side.py``, doc/performance.md §4).

Why inside this process rather than under ``granian``'s command: that
command is a supervisor that spawns worker processes. The worker would
then have to load the config, set up logging, start and stop the
conductor, and notice its parent's death (a worker whose supervisor was
SIGKILLed goes on serving and holding node leases), while ``atexit``
never runs in it. Here the process stays the one ``hwdrivers-server``
always was: signals, start-up checks, the conductor and its graceful
stop are unchanged, and only the listener differs.

granian's thread-based server (``granian.server.mt``) runs its worker in
a thread; :class:`GranianServer` does the same, through the worker class
and callback scheduler that server uses. Those are not granian's
documented API, so ``setup.cfg`` admits one minor series, and
:func:`load` turns a mismatch into an error naming ``[api] http_server``.

The WSGI environ is built here, not by granian's own wrapper, which
copies the whole process environment (secrets included) into every
request's environ; as under waitress, client-sent proxy headers
(``X-Forwarded-*``, ``Forwarded``) are dropped.
"""

import asyncio
import logging
import socket
import sys
import threading
import time

from hwdrivers.api import auth
from hwdrivers.common import exception

LOG = logging.getLogger(__name__)
OPTION = "[api] http_server"
SUPPORTED = "2.8"
#: Dropped from every environ, as waitress does with
#: clear_untrusted_proxy_headers: no proxy is trusted to set them.
UNTRUSTED_PROXY_HEADERS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST",
                           "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_PORT",
                           "HTTP_X_FORWARDED_BY")


def load():
    """granian's worker pieces; ConfigInvalid naming the option when unusable."""
    try:
        import granian
        from granian import _futures
        from granian import _granian
    except ImportError as error:
        raise exception.ConfigInvalid(
            "granian cannot be imported (%s); reinstall hwdrivers (it depends on "
            "granian %s.x) or set %s = waitress" % (error, SUPPORTED, OPTION),
            option=OPTION) from None
    version = getattr(granian, "__version__", "?")
    if not version.startswith(SUPPORTED + "."):
        raise exception.ConfigInvalid(
            "granian %s is installed; hwdrivers drives granian %s.x's worker "
            "directly and needs that series (pip install 'granian>=%s,<2.9') or "
            "set %s = waitress" % (version, SUPPORTED, SUPPORTED, OPTION),
            option=OPTION)
    return _granian, _futures._new_cbscheduler


#: TCP keepalive on every connection (Linux: accepted sockets inherit it
#: from the listener): probes after 60 s of silence, every 10 s, 3 missed.
KEEPALIVE = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))


def bind(host, port, backlog):
    """Listening sockets for every address ``host`` resolves to, on one port.

    SO_REUSEADDR (a restart rebinds despite TIME_WAIT) but never
    SO_REUSEPORT: a second server on a busy port must fail, not share it.

    TCP keepalive (:data:`KEEPALIVE`): granian's WSGI body reads have no
    timeout, so a request whose client vanished mid-body (a dropped link,
    a rebooted host) would hold an API thread until the kernel noticed,
    which without keepalive is never. With it, such a thread is free
    within about 90 s. A live client that keeps a connection open without
    finishing its body still holds a thread: under ``http_basic`` only an
    authenticated one, or on the ramdisk's unauthenticated routes within
    the few threads api/auth.py allows them; a local one under ``noauth``.
    waitress, which buffers bodies before giving them a thread, is the
    choice where that matters (doc/service.md).
    """
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                               0, socket.AI_PASSIVE)
    seen, addresses = set(), []
    for family, _, _, _, address in infos:
        if (family, address[0]) not in seen:
            seen.add((family, address[0]))
            addresses.append((family, address))
    families = {family for family, _ in addresses}
    sockets = []
    try:
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for name, value in KEEPALIVE:
                if hasattr(socket, name):  # Linux; elsewhere the system's defaults
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
            if family == socket.AF_INET6 and socket.AF_INET in families:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if sockets[0] is not sock:  # port 0: every address on the first one's port
                address = (address[0], sockets[0].getsockname()[1]) + tuple(address[2:])
            sock.bind(address)
            sock.listen(backlog)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Body:
    """A streamed response body; its request runs until it ends or is closed."""

    __slots__ = ("_inner", "_next", "_done")

    def __init__(self, inner, done):
        self._inner = inner
        self._next = iter(inner).__next__
        self._done = done

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self._next()
        except BaseException:  # StopIteration included: the request is over
            self._finish()
            raise

    def close(self):
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._finish()

    def _finish(self):
        done, self._done = self._done, None
        if done is not None:
            done()


class GranianServer:
    """A WSGI app served by granian's worker on threads of this process.

    ``run`` serves until ``close``; ``close`` stops accepting, then waits
    up to ``drain_timeout`` seconds for requests already running (they
    may hold node leases) before returning. ``threads`` Python threads
    run the app; requests beyond them wait in granian's queue, and
    ``saturation`` (a :class:`hwdrivers.cmd.server.SaturationLog`) hears
    of each request that takes the last free thread: granian's queue is
    not visible, so that is the sign later requests will wait.
    """

    scheme = "http"

    def __init__(self, app, host, port, threads, ident="hwdrivers", saturation=None,
                 drain_timeout=60.0, backlog=1024, header_timeout=30.0):
        self._granian, self._scheduler = load()
        self.app = app
        self.threads = threads
        self.saturation = saturation
        self.drain_timeout = drain_timeout
        self.header_timeout = header_timeout
        self.backlog = backlog
        self._sockets = bind(host, port, backlog)
        self.effective_host, self.effective_port = self._sockets[0].getsockname()[:2]
        self._environ = {
            "SCRIPT_NAME": "", "SERVER_SOFTWARE": ident, "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "wsgi.input_terminated": True,
            auth.STREAMED_INPUT: True,  # bodies are read from the network as the app asks
        }
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running = 0
        self._signals = []
        self._closed = False

    # -- serving ---------------------------------------------------------

    def run(self):
        """Serve every bound address until :meth:`close`; blocks."""
        with self._lock:
            if self._closed:
                return
            sockets, self._sockets = self._sockets, []
            signals = [self._granian.WorkerSignal() for _ in sockets]
            self._signals = signals
        threads = [threading.Thread(target=self._serve, args=(i + 1, sock, signal),
                                    name="granian-%d" % (i + 1), daemon=True)
                   for i, (sock, signal) in enumerate(zip(sockets, signals))]
        for thread in threads[1:]:
            thread.start()
        if threads:
            threads[0].run()
        for thread in threads[1:]:
            thread.join()

    def _serve(self, worker_id, sock, signal):
        loop = asyncio.new_event_loop()  # granian's scheduler wants one; WSGI never runs it
        try:
            holder = self._granian.SocketHolder(sock.detach(), False, self.backlog)
            http1 = _http1_settings(self.header_timeout)
            worker = self._granian.WSGIWorker(
                worker_id, (None, holder), None,
                1,                  # runtime threads: one I/O thread is plenty here
                512,                # runtime blocking threads (granian's default)
                self.threads, 30,   # Python threads running the app, idle timeout (s)
                self.backlog,       # backpressure: requests in flight per worker
                "1", http1, None,   # HTTP/1.1 (what Ironic's clients speak)
                None,               # no static files
                False, None, None, None, "tls1.3", None, [], False,  # no TLS
                (None, None))       # no metrics
            worker.serve_mtr(self._scheduler(loop, self._call, impl_asyncio=False), loop,
                             signal)
        except Exception:
            LOG.exception("the granian worker on %s:%s stopped", self.effective_host,
                          self.effective_port)
            raise
        finally:
            loop.close()

    def _call(self, proto, scope):
        """granian's WSGI callback, on one of the app threads."""
        with self._lock:
            self._running += 1
            running = self._running
        if running >= self.threads and self.saturation is not None:
            self.saturation.all_busy()
        done = self._finished
        try:
            environ = self._environ | scope
            for name in UNTRUSTED_PROXY_HEADERS:
                if name in environ:
                    del environ[name]
            response = []

            def start_response(status, headers, exc_info=None):
                if exc_info is not None and response:
                    raise exc_info[1].with_traceback(exc_info[2])
                response[:] = [int(status[:3]), headers]
                return written.append

            written = []
            try:
                body = self.app(environ, start_response)
            except Exception:
                LOG.exception("unhandled error serving %s %s", scope.get("REQUEST_METHOD"),
                              scope.get("PATH_INFO"))
                proto.response_bytes(500, [("Content-Type", "text/plain")],
                                     b"Internal Server Error\n")
                return 500
            if written:  # the legacy write(): what it sent, then the body, closed
                body = _joined(written, body)
            if isinstance(body, list):
                proto.response_bytes(response[0], response[1], b"".join(body))
                return response[0]
            # granian iterates and closes the body after this returns: the
            # request runs until then.
            body, done = _Body(body, done), None
            proto.response_iter(response[0], response[1], body)
            return response[0]
        finally:
            if done is not None:
                done()

    def _finished(self):
        with self._lock:
            self._running -= 1
            if not self._running:
                self._idle.notify_all()

    # -- stopping --------------------------------------------------------

    def close(self):
        """Stop accepting; wait up to ``drain_timeout`` s for running requests."""
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
            signals = self._signals
        for sock in sockets:  # never served
            sock.close()
        for signal in signals:
            signal.set()
        deadline = time.monotonic() + self.drain_timeout
        with self._lock:
            while self._running and time.monotonic() < deadline:
                self._idle.wait(max(0.0, deadline - time.monotonic()))
            left = self._running
        if left:
            LOG.warning("%d API request(s) still running after %.0f s; stopping anyway",
                        left, self.drain_timeout)

    @property
    def running(self):
        """Requests the app is serving now."""
        return self._running


def _joined(written, body):
    """What ``write()`` sent, then ``body``'s parts, as one list; ``body`` closed."""
    try:
        return written + list(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _http1_settings(header_timeout):
    from granian.http import HTTP1Settings
    return HTTP1Settings(header_read_timeout=int(header_timeout * 1000))
