"""One console's proxy: the session program, its log, one TCP client.

A :class:`Relay` is a thread of the conductor that owns, for one node:

- the **session**: the console program (``ipmitool ... sol activate``, an
  operator's console command) on a pseudo-terminal, started under the
  supervisor of :mod:`hwdrivers.common.reaper`, which kills the program and
  everything it started when the relay stops it and, through
  ``PR_SET_PDEATHSIG``, when the conductor dies, even by SIGKILL: no
  ``ipmitool`` outlives its conductor;
- the **log**: everything the session prints after it came up is appended to
  the node's :class:`~hwdrivers.conductor.console_log.ConsoleLog`, whether
  or not anyone is connected, so the output of a boot nobody watched can be
  read afterwards;
- the **listener**: a TCP socket on ``[console] host`` with at most one
  client. A second one is told who holds the console and disconnected; the
  first is not disturbed. A client silent (both ways) for ``[console]
  idle_timeout`` is disconnected; the session goes on.

The secrets of the command (the BMC password) are cut out of everything the
session prints before it reaches the log or a client. The program's
escape character is doubled after a newline, so a client typing ``~.``
sends those characters to the machine instead of ending the session.

When a session that was up ends by itself (BMC reset, network loss), the
relay starts it again after 1, 2, 4... s, at most ``[console]
restart_limit`` times in a row; a session that stayed up for
:data:`STABLE_AFTER` seconds resets the count; so is the first start of a
console restored after a conductor restart (``retry_start``: its BMC may
still be booting). A session that never comes
up, or too many restarts, end the relay with ``failed`` and the reason,
which the console manager records on the node: ``on_failed`` runs before
``state`` says ``failed``, under :attr:`Relay.transition`, so whoever reads
the state under that lock and sees ``failed`` also finds the failure
recorded, and whoever sees any other state finds it not yet recorded.
"""

import datetime
import errno
import ipaddress
import logging
import os
import pty
import re
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import tty

from hwdrivers.common import supervised
from hwdrivers.conductor import console_host
from hwdrivers.drivers import params

LOG = logging.getLogger(__name__)

#: Seconds a session must stay up for the restart count to start again at 0.
STABLE_AFTER = 60.0
#: Longest wait between two restarts.
MAX_BACKOFF = 30.0
#: A session without a ready marker is up once it has run this long.
SETTLE = 1.0
#: Seconds bytes that may start a secret are held back when nothing follows.
REDACT_FLUSH = 0.2
#: Output queued for a client that does not read before it is disconnected.
CLIENT_BUFFER = 1024 * 1024
#: Input queued for a session that does not read: beyond it the relay stops
#: reading the client (TCP backpressure) until the session takes more. It used
#: to go on reading and throw the excess away: a paste larger than this, while
#: the session was slow, silently lost its end.
INPUT_BUFFER = 64 * 1024
#: Seconds a disconnected client's pending input is read (and dropped) so that
#: the close is a FIN, and ``DRAIN_GAP`` the pause in its input that ends it.
DRAIN_WAIT = 1.0
DRAIN_GAP = 0.05
#: Seconds a session has to end after its quit sequence before it is killed.
QUIT_WAIT = 2.0
#: Seconds the supervisor has to kill a session's processes.
KILL_WAIT = 5.0
#: Bytes of what the session said before coming up: the reason if it never
#: does, and (without a ready marker) the first output once it is up.
STARTUP_KEEP = 65536

STARTING, ON, RESTARTING, FAILED, STOPPED = "starting", "on", "restarting", "failed", "stopped"


def _now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


#: Secrets shorter than this are cut only where they stand as a word of their
#: own (no ASCII letter or digit right before or after): a BMC password "ab"
#: was cut out of every "about", "table" and "lab" the machine printed, which
#: mangled the log and the client's screen (and told a reader the password).
#: Longer secrets are cut wherever they appear, as inside other words they do
#: not occur by chance.
WHOLE_WORD_BELOW = 8
_WORD = b"A-Za-z0-9"


class Redactor:
    """Replaces secrets in a byte stream, even when one is split across reads.

    Bytes at the end of a read that could begin a secret are held back until
    the next read, or :meth:`flush` (:data:`REDACT_FLUSH` later); so is a
    short secret (:data:`WHOLE_WORD_BELOW`) at the very end, until the byte
    after it says whether it is a word of its own. At a flush the end counts
    as a word's end: a secret is never let out for want of a next byte.
    """

    def __init__(self, secrets):
        self.secrets = sorted({s.encode("utf-8") for s in secrets if s}, key=len,
                              reverse=True)
        self.mask = params.MASK.encode()
        self.held = b""
        #: The last byte given out: whether a secret right after it starts a word.
        self.before = b""
        self._streaming = self._pattern(final=False)
        self._final = self._pattern(final=True)

    def _pattern(self, final):
        """One regex for all secrets, longest first; ``final``: the data ends here."""
        if not self.secrets:
            return None
        after = b"(?![%s])" % _WORD if final else b"(?=[^%s])" % _WORD
        return re.compile(b"|".join(
            re.escape(s) if len(s) >= WHOLE_WORD_BELOW
            else b"(?<![%s])%s%s" % (_WORD, re.escape(s), after)
            for s in self.secrets))

    def extended(self, secrets):
        """A redactor for these secrets too, that goes on where this one is."""
        other = Redactor(tuple(s.decode("utf-8") for s in self.secrets) + tuple(secrets))
        other.held, other.before = self.held, self.before
        return other

    def _sub(self, pattern, data, start=0):
        """``data[start:]`` with the secrets masked (the bytes before give context)."""
        out, last = [], start
        for match in pattern.finditer(data, start):
            out += [data[last:match.start()], self.mask]
            last = match.end()
        out.append(data[last:])
        return b"".join(out)

    def scrub(self, data: bytes) -> bytes:
        """``data``, whole (it ends here), with the secrets masked."""
        return self._sub(self._final, data) if self.secrets else data

    def _hold(self, buf, start):
        """How many bytes at the end of ``buf[start:]`` may still become a secret."""
        room = len(buf) - start
        hold = 0
        for secret in self.secrets:
            whole_word = len(secret) < WHOLE_WORD_BELOW
            longest = len(secret) if whole_word else len(secret) - 1
            for size in range(min(longest, room), hold, -1):
                if not buf.endswith(secret[:size]):
                    continue
                prior = buf[len(buf) - size - 1:len(buf) - size]
                if whole_word and prior and re.match(b"[%s]" % _WORD, prior):
                    continue  # inside a word: never a short secret
                hold = size
                break
        return hold

    def _give(self, out):
        if out:
            self.before = out[-1:]
        return out

    def feed(self, data: bytes) -> bytes:
        if not self.secrets:
            return data
        context = self.before
        buf = context + self._sub(self._streaming, context + self.held + data,
                                  len(context))
        hold = self._hold(buf, len(context))
        self.held = buf[len(buf) - hold:] if hold else b""
        return self._give(buf[len(context):len(buf) - hold])

    def flush(self) -> bytes:
        held, self.held = self.held, b""
        if not held:
            return b""
        return self._give(self._sub(self._final, self.before + held, len(self.before)))


def double_escape(data: bytes, escape: bytes | None, line_start: bool):
    """``data`` with ``escape`` doubled where it follows a newline; (bytes, line_start)."""
    if not escape:
        return data, line_start
    out = bytearray()
    for byte in data:
        char = bytes((byte,))
        if line_start and char == escape:
            out += escape
        out += char
        line_start = char in (b"\r", b"\n")
    return bytes(out), line_start


def allowed(address: str, networks) -> bool:
    """Whether a client at ``address`` may connect (no networks: everyone)."""
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


#: The process that forks the supervisors (:mod:`console_host`), shared by relays.
_host = console_host.Host(os.path.dirname(supervised.REAPER))
#: False once the host proved unusable here (no pidfd: Linux before 5.3).
_use_host = True


def _spawn_supervisor(argv, env, stdio, status_w):
    """The reaper supervisor for ``argv``: forked by the host, else a fresh interpreter.

    The host's children cost ~0.9 MB of private memory each instead of
    ~3.5 MB (doc/console.md). A host that cannot work on this system is
    given up for good, one that died is started again by the next spawn.
    """
    global _use_host
    if _use_host:
        try:
            return _host.spawn(argv, env, stdio, status_w, supervised.GRACE)
        except OSError as exc:
            if getattr(exc, "errno", None) in (errno.ENOSYS, errno.EPERM):
                _use_host = False
            LOG.warning("Console supervisor started on its own (the console host "
                        "failed: %s)", exc)
    return subprocess.Popen(
        [sys.executable, "-I", "-S", supervised.REAPER, str(status_w),
         repr(supervised.GRACE), str(os.getpid()), "--", *argv],
        stdin=stdio, stdout=stdio, stderr=stdio, pass_fds=(status_w,),
        start_new_session=True, close_fds=True, env=dict(env), cwd="/")


def _drain(conn, limit, gap):
    """Read (and drop) what a client still sends before its socket is closed.

    Closing a socket with unread input is a TCP reset, and a reset makes the
    client drop what it had not read yet: a client disconnected while its
    typing was queued, or refused after typing as it connected, lost the
    line saying why and saw "connection reset by peer" instead. At most
    ``limit`` seconds; once nothing is queued, ``gap`` seconds for input
    still in flight.
    """
    conn.setblocking(False)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if not conn.recv(65536):
                return
        except BlockingIOError:
            if not gap or not select.select([conn], [], [], gap)[0]:
                return


class _Session:
    """The console program on a pty, under the reaper supervisor.

    ``terminal=False``: a cleanup command (``sol deactivate``) instead, its
    input and output /dev/null: only its end matters (:attr:`status`).
    """

    def __init__(self, argv, env, terminal=True):
        if terminal:
            master, slave = pty.openpty()
        else:
            master = None
            slave = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        status_r, status_w = os.pipe()
        try:
            if terminal:
                tty.setraw(slave)  # bytes pass as they are; the program may set its own
            self.proc = _spawn_supervisor(argv, env, slave, status_w)
        except BaseException:
            for fd in (master, status_r):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            os.close(slave)
            os.close(status_w)
        if master is not None:
            os.set_blocking(master, False)
        self.master = master
        self.status = status_r
        self.started = time.monotonic()
        self.report = b""
        self.output_open = True

    def read_status(self):
        """The supervisor's report once complete (``exit N``/``exec E``), "" at EOF, else None."""
        block = os.read(self.status, 64)
        self.report += block
        if self.report.endswith(b"\n"):
            return self.report.decode().strip()
        return "" if not block else None

    def read_output(self):
        """Bytes the program printed; b"" when the terminal closed; None if none now."""
        try:
            return os.read(self.master, 65536)
        except BlockingIOError:
            return None
        except OSError:  # EIO: no process has the terminal open any more
            return b""

    def drain(self):
        chunks = []
        while True:
            block = self.read_output()
            if not block:
                return b"".join(chunks)
            chunks.append(block)

    def end(self):
        """Kill the program and what it started (supervisor SIGTERM), reap all."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(KILL_WAIT)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                pass
        try:
            if getattr(self.proc, "hosted", False):
                # Its pidfd: never another process. What it leaves, its host kills.
                self.proc.send_signal(signal.SIGKILL)
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of a dead supervisor
        except ProcessLookupError:
            pass
        self.proc.wait()
        for fd in (self.master, self.status):
            if fd is None:
                continue
            try:
                os.close(fd)
            except OSError:
                pass


class Relay(threading.Thread):
    """Serves one node's console on ``listener`` until :meth:`stop` or failure.

    ``on_failed(relay, reason)`` is called on the relay's thread once it has
    given up, before :attr:`state` says ``failed`` (under :attr:`transition`);
    ``on_closed(relay)`` once its session, listener and log are closed,
    however it ended (the port may be reused from then on).
    """

    def __init__(self, node, label, command, listener, console_log, conf, on_failed,
                 on_closed=None, refresh=None, retry_start=False):
        super().__init__(name="hwdrivers-console-%s" % label, daemon=True)
        self.node = node
        self.label = label
        self.command = command
        self.listener = listener
        self.log = console_log
        self.idle_timeout = conf.idle_timeout
        self.start_timeout = conf.start_timeout
        self.restart_limit = conf.restart_limit
        self.networks = [ipaddress.ip_network(n, strict=False)
                         for n in conf.allowed_clients]
        self.on_failed = on_failed
        self.on_closed = on_closed
        #: ``refresh()``: the session's command as the node's driver_info says
        #: now (None: keep this one), asked before every restart.
        self.refresh = refresh
        #: A console brought back after a conductor restart: a first start that
        #: fails (the BMC is still down) is retried like a session that ended,
        #: instead of failing at once (see :attr:`retrying`).
        self.retry_start = retry_start
        #: True once such a first start failed and the relay went on retrying:
        #: from then on it, not whoever started it, reports its failure.
        self.retrying = False
        #: Why the session is down while ``restarting`` (shown as console_error).
        self.last_error = None
        #: Held while a failure is recorded and published (see the module doc).
        self.transition = threading.Lock()
        self.state = STARTING
        self.reason = None
        self.outcome = threading.Event()  # set once up, or failed
        self.client_address = None
        self.restarts = 0
        self.ever_up = False
        self.port_number = listener.getsockname()[1]
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()
        self._session = None
        self._redactor = Redactor(command.secrets)
        self._held_since = None
        self._startup = b""
        self._client = None
        self._client_since = None
        self._client_out = bytearray()
        self._client_seen = 0.0
        self._to_session = bytearray()
        #: Whether the session is at a line start, where its escape counts. The
        #: session's state (a new one starts at a line start), not a client's.
        self._line_start = True
        self._ready_at = None
        self._restart_at = None
        #: When the start under way must have come up, cleanup included
        #: (``[console] start_timeout`` after it began).
        self._start_deadline = None
        #: What the cleanup (``before``) said when it used up the whole budget.
        self._before_timed_out = None
        #: The cleanup command running (a _Session without terminal), and those
        #: still to run before the session starts.
        self._cleanup = None
        self._cleanup_argv = None
        self._before = []
        #: (command, why) handed over by :meth:`renew`, taken by the relay's thread.
        self._renewal = None

    # -- control (other threads) -------------------------------------------------------

    def wait_outcome(self, timeout):
        """Wait until the console is up or failed; the state then."""
        self.outcome.wait(timeout)
        return self.state

    def renew(self, command, why):
        """Start the session again with ``command`` (the node's driver_info changed).

        The port, the client and the log stay; the client and the log are told
        ``why``. A session on the BMC the node no longer names went on until it
        ended by itself: the console showed, and typed on, the old machine.
        """
        self._renewal = (command, why)
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def stop(self, timeout=QUIT_WAIT + KILL_WAIT + 5):
        self._stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    # -- the thread ------------------------------------------------------------------------

    def run(self):
        try:
            self._selector.register(self.listener, selectors.EVENT_READ, "accept")
            self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
            self._begin()
            while not self._stopping.is_set() and self.state not in (FAILED, STOPPED):
                self._tick()
        except Exception as exc:  # a bug must not leave the session running
            LOG.exception("Console of node %s: relay failed", self.label)
            self._fail("the console relay failed: %s" % exc)
        finally:
            self._shutdown()

    def _tick(self):
        for key, mask in self._selector.select(self._next_timeout()):
            # An earlier handler of this round may have unregistered what this
            # event is about (the session ended: its terminal's hang-up is
            # stale; a client was dropped: so is its input). Tripping on it
            # would turn the console off; what is still there is reported
            # again by the next select (a modified key is the same thing).
            current = self._selector.get_map().get(key.fd)
            if current is None or current.data != key.data:
                continue
            handler = getattr(self, "_on_%s" % key.data)
            handler(key, mask)
            if self._stopping.is_set() or self.state == FAILED:
                return
        if self._renewal is not None:
            (command, why), self._renewal = self._renewal, None
            self._renew(command, why)
        now = time.monotonic()
        if self._cleanup is not None:
            if now >= self._start_deadline:
                self._cleanup_timed_out()
        elif self.state == STARTING and self._session is not None:
            if (self.command.ready_marker is None
                    and now - self._session.started >= SETTLE):
                self._up(self._startup)  # what it printed meanwhile goes through
            elif now >= self._start_deadline:
                self._session_ended(timed_out=True)
        elif self.state == RESTARTING and now >= self._restart_at:
            self._begin()
        if self._client is not None and self.idle_timeout and (
                now - self._client_seen >= self.idle_timeout):
            self._drop_client("disconnected after %g s without traffic ([console] "
                              "idle_timeout)" % self.idle_timeout)
        if self._held_since is not None and now - self._held_since >= REDACT_FLUSH:
            self._emit_raw(self._redactor.flush())
            self._held_since = None

    def _next_timeout(self):
        now = time.monotonic()
        deadlines = []
        if self._cleanup is not None:
            deadlines.append(self._start_deadline)
        elif self.state == STARTING and self._session is not None:
            deadlines.append(self._start_deadline)
            if self.command.ready_marker is None:
                deadlines.append(self._session.started + SETTLE)
        elif self.state == RESTARTING:
            deadlines.append(self._restart_at)
        if self._client is not None and self.idle_timeout:
            deadlines.append(self._client_seen + self.idle_timeout)
        if self._held_since is not None:
            deadlines.append(self._held_since + REDACT_FLUSH)
        return max(0.0, min(deadlines) - now) if deadlines else None

    # -- the session ---------------------------------------------------------------------

    def _renew(self, command, why):
        """End the session (cleanly when up) and start one with ``command`` at once."""
        if self.state not in (ON, STARTING, RESTARTING):
            return
        self._redactor = self._redactor.extended(command.secrets)
        self.command = command
        self._before = []
        self._end_cleanup()
        session = self._session
        if session is not None:
            for fd in (session.master, session.status):
                try:
                    self._selector.unregister(fd)
                except (KeyError, ValueError):
                    pass
            self._quit_session()
        self._to_session.clear()
        self._client_events()
        message = "%s: console session restarted" % why
        LOG.info("Console of node %s: %s", self.label, message)
        self.log.write(b"\r\n--- hwdrivers: %s at %s ---\r\n" % (
            message.encode("utf-8", "replace"), _now().encode()))
        if self._client is not None:
            self._send_client(b"\r\n[hwdrivers: %s]\r\n" % message.encode(
                "utf-8", "replace"))
        # A fresh count: failures from here on are the new BMC's.
        self.restarts = 0
        self.last_error = why
        self.state = RESTARTING
        self._restart_at = time.monotonic()

    def _refresh_command(self):
        """Restart with the node's current driver_info, not the one it was enabled with.

        A BMC password rotated (driver_info updated, then the BMC) or a BMC
        readdressed while the console was on: each restart used the old
        command and failed until the console was turned off, naming a
        password the node no longer had.
        """
        try:
            command = self.refresh()
        except Exception as exc:
            LOG.warning("Console of node %s: restarting with the command it was enabled "
                        "with (reading the node's current one failed: %s)", self.label,
                        exc)
            return
        if command is None or command == self.command:
            return
        self._redactor = self._redactor.extended(command.secrets)
        self.command = command

    def _begin(self):
        """Start the session: its cleanup commands first, then the program.

        The cleanup (``ipmitool sol deactivate``, seconds against a slow BMC,
        up to ``start_timeout`` against a dead one) runs as a process the
        select loop watches like the session, not as a call on this thread:
        it used to block the loop, so at each restart the connected client
        got nothing, new clients were not answered and stop() waited.
        """
        if self.restarts and self.refresh is not None:
            self._refresh_command()
        # One budget for the whole start, the cleanup included: a BMC that
        # does not answer used to cost start_timeout for each cleanup command
        # and again for the activation, holding the enable's worker for
        # minutes with a slow [ipmi] timeout/retries.
        self._start_deadline = time.monotonic() + self.start_timeout
        self._before_timed_out = None
        self._before = [list(argv) for argv in self.command.before]
        self._next_cleanup()

    def _next_cleanup(self):
        """Start the next cleanup command, or the session once none is left."""
        while self._before and not self._stopping.is_set():
            argv = self._before.pop(0)
            try:
                self._cleanup = _Session(argv, self.command.env, terminal=False)
            except OSError:
                continue  # the activation that follows says what is wrong
            self._cleanup_argv = argv
            self._selector.register(self._cleanup.status, selectors.EVENT_READ, "cleanup")
            return
        if not self._stopping.is_set():
            self._activate()

    def _on_cleanup(self, key, mask):
        if self._cleanup.read_status() is None:
            return
        self._end_cleanup()
        self._next_cleanup()

    def _end_cleanup(self):
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is None:
            return
        try:
            self._selector.unregister(cleanup.status)
        except (KeyError, ValueError):
            pass
        cleanup.end()

    def _cleanup_timed_out(self):
        """The cleanup used the whole start budget: kill it; the start then times out."""
        argv = self._cleanup_argv
        self._before_timed_out = " ".join(
            os.path.basename(w) if i == 0 else w
            for i, w in enumerate(argv[:1] + argv[-2:]))
        self._before = []
        self._end_cleanup()
        self._next_cleanup()

    def _activate(self):
        self._startup = b""
        # A new session (ipmitool) starts at a line start: a client's "~." typed
        # after a restart mid-line was not doubled and ended the new session.
        self._line_start = True
        try:
            self._session = _Session(self.command.argv, self.command.env)
        except OSError as exc:
            self._fail("cannot start %s: %s" % (self.command.argv[0], exc.strerror or exc))
            return
        self.state = STARTING
        self._selector.register(self._session.master, selectors.EVENT_READ, "output")
        self._selector.register(self._session.status, selectors.EVENT_READ, "status")

    def _on_output(self, key, mask):
        session = self._session
        if mask & selectors.EVENT_WRITE:
            self._flush_input()
        if not mask & selectors.EVENT_READ:
            return
        data = session.read_output()
        if data is None:
            return
        if not data:
            session.output_open = False
            self._selector.unregister(session.master)
            return
        self._take(data)

    def _take(self, data):
        if self.state != STARTING:
            self._emit(data)
            return
        self._startup = (self._startup + data)[-STARTUP_KEEP:]
        marker = self.command.ready_marker
        if marker is not None and marker in self._startup:
            after = self._startup.split(marker, 1)[1]
            after = after.split(b"\n", 1)[1] if b"\n" in after else b""
            self._up(after)

    def _up(self, pending):
        self.state = ON
        self.ever_up = True
        self.last_error = None
        self._ready_at = time.monotonic()
        self.log.write(b"\r\n--- hwdrivers: console session up (%s) at %s ---\r\n" % (
            self.command.peer.encode() or b"console", _now().encode()))
        if self.restarts and self._client is not None:
            self._send_client(b"\r\n[hwdrivers: console session is back]\r\n")
        self.outcome.set()
        if pending:
            self._emit(pending)

    def _on_status(self, key, mask):
        report = self._session.read_status()
        if report is None:
            return
        self._session_ended(report=report)

    def _session_ended(self, report="", timed_out=False):
        session, self._session = self._session, None
        tail = b"" if timed_out else session.drain()
        for fd in (session.master, session.status):
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                pass
        session.end()
        self._to_session.clear()
        self._client_events()  # reading the client again, if its input had filled up
        if self.state == ON and tail:
            self._emit(tail)
        was = self.state
        if self._stopping.is_set():
            return
        said = self._redactor.scrub(self._startup + (tail if was != ON else b""))
        said = said.decode("utf-8", "replace").strip()
        if was == STARTING:
            reason = self._start_failure(report, said, timed_out)
            if self.restarts == 0 and not self.outcome.is_set() and not self.retry_start:
                self._fail(reason)
                return
        else:
            reason = "the console session ended (%s)" % (report or "its terminal closed")
            self.log.write(b"\r\n--- hwdrivers: %s at %s ---\r\n" % (
                reason.encode(), _now().encode()))
            if time.monotonic() - (self._ready_at or 0) >= STABLE_AFTER:
                self.restarts = 0
        if self.restarts >= self.restart_limit:
            self._fail("%s; gave up after %d restart(s) in a row ([console] "
                       "restart_limit)" % (reason, self.restarts))
            return
        self.restarts += 1
        delay = min(MAX_BACKOFF, 2.0 ** (self.restarts - 1))
        self.last_error = reason
        self.state = RESTARTING
        if not self.ever_up and not self.retrying:
            self.retrying = True
            self.outcome.set()  # its starter returns; the relay goes on retrying
        self._restart_at = time.monotonic() + delay
        LOG.warning("Console of node %s: %s; restart %d of %d in %gs", self.label, reason,
                    self.restarts, self.restart_limit, delay)
        if self._client is not None:
            self._send_client(b"\r\n[hwdrivers: %s; restarting in %gs]\r\n"
                              % (reason.encode(), delay))

    def _start_failure(self, report, said, timed_out):
        program = os.path.basename(self.command.argv[0])
        if timed_out:
            what = "did not come up within %g s ([console] start_timeout)" % (
                self.start_timeout)
        elif report.startswith("exec "):
            what = "could not be started: %s" % os.strerror(int(report.split()[1]))
        else:
            what = "ended before the session came up (%s)" % (report or "no status")
        words = " | ".join(line.strip() for line in said.splitlines()
                           if line.strip())[-400:]
        reason = "%s %s for %s" % (program, what, self.command.peer or "the console")
        if timed_out and self._before_timed_out:
            reason += ": %s, run first to clear a stale session, took all of it" % (
                self._before_timed_out)
        elif words:
            reason += ": %s" % words
        hint = self.command.explain(said) if self.command.explain else None
        if hint is None and timed_out:
            hint = ("nothing answered in time: check that %s is up and reachable from "
                    "this conductor, or raise [console] start_timeout"
                    % (self.command.peer or "the console's peer"))
        if hint:
            reason += " (%s)" % hint
        return reason

    def _fail(self, reason):
        """Give up: record why (``on_failed``), then say ``failed``, atomically for readers."""
        if self.state == FAILED:
            return
        self.reason = reason
        LOG.error("Console of node %s failed: %s", self.label, reason)
        try:
            self.log.write(b"\r\n--- hwdrivers: console failed at %s: %s ---\r\n" % (
                _now().encode(), reason.encode("utf-8", "replace")))
        except OSError:
            pass
        with self.transition:
            if self.on_failed is not None:
                try:
                    self.on_failed(self, reason)
                except Exception:
                    LOG.exception("Console of node %s: recording the failure failed",
                                  self.label)
            self.state = FAILED
        self.outcome.set()

    def _flush_input(self):
        session = self._session
        if session is None:
            return
        if self._to_session:
            try:
                written = os.write(session.master, self._to_session)
                del self._to_session[:written]
            except BlockingIOError:
                pass
            except OSError:
                self._to_session.clear()
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._to_session else 0)
        if session.output_open:
            self._selector.modify(session.master, events, "output")
        self._client_events()

    # -- output: log and client ---------------------------------------------------------------

    def _emit(self, data):
        clean = self._redactor.feed(data)
        self._held_since = time.monotonic() if self._redactor.held else None
        self._emit_raw(clean)

    def _emit_raw(self, data):
        if not data:
            return
        self.log.write(data)
        if self._client is not None:
            self._send_client(data)

    def _send_client(self, data):
        self._client_out += data
        if len(self._client_out) > CLIENT_BUFFER:
            self._client_out.clear()
            self._drop_client("disconnected: not reading fast enough")
            return
        self._client_seen = time.monotonic()
        self._on_client_write()

    def _on_client_write(self):
        try:
            sent = self._client.send(self._client_out)
            del self._client_out[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._close_client()
            return
        self._client_events()

    def _client_events(self):
        """Watch the client for what can move: its input only while the session's
        queue has room (else TCP holds the rest back), output while any is queued."""
        client = self._client
        if client is None:
            return
        events = (selectors.EVENT_READ if len(self._to_session) < INPUT_BUFFER else 0) | (
            selectors.EVENT_WRITE if self._client_out else 0)
        registered = self._selector.get_map().get(client.fileno())
        if not events:
            if registered is not None:
                self._selector.unregister(client)
        elif registered is None:
            self._selector.register(client, events, "client")
        elif registered.events != events:
            self._selector.modify(client, events, "client")

    # -- clients -----------------------------------------------------------------------------

    def _on_accept(self, key, mask):
        try:
            conn, address = self.listener.accept()
        except OSError:
            return
        host = address[0]
        if not allowed(host, self.networks):
            self._refuse(conn, "clients from %s may not use consoles here ([console] "
                               "allowed_clients)" % host)
            LOG.warning("Console of node %s: refused client %s (not in [console] "
                        "allowed_clients)", self.label, host)
            return
        if self._client is not None:
            self._refuse(conn, "the console of node %s is in use by %s since %s; one "
                               "client at a time" % (self.label, self.client_address,
                                                     self._client_since))
            LOG.info("Console of node %s: refused %s, in use by %s", self.label,
                     "%s:%s" % address[:2], self.client_address)
            return
        conn.setblocking(False)
        self._client = conn
        self.client_address = "%s:%s" % address[:2]
        self._client_since = _now()
        self._client_seen = time.monotonic()
        self._client_out.clear()
        self._selector.register(conn, selectors.EVENT_READ, "client")
        LOG.info("Console of node %s: client %s connected", self.label, self.client_address)
        if self.state == RESTARTING:
            self._send_client(b"[hwdrivers: the console session is restarting]\r\n")

    @staticmethod
    def _refuse(conn, message):
        try:
            conn.settimeout(1.0)
            conn.sendall(b"hwdrivers: %s\r\n" % message.encode())
            conn.shutdown(socket.SHUT_WR)
            # What it typed as it connected, not waiting for more: a burst of
            # refused clients must not hold up the console.
            _drain(conn, DRAIN_WAIT, 0)
        except OSError:
            pass
        finally:
            conn.close()

    def _on_client(self, key, mask):
        if mask & selectors.EVENT_WRITE:
            self._on_client_write()
            if self._client is None:
                return
        if not mask & selectors.EVENT_READ:
            return
        try:
            data = self._client.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_client()
            return
        self._client_seen = time.monotonic()
        if self.state != ON or self._session is None:
            return  # nowhere to type while the session is down
        data, self._line_start = double_escape(data, self.command.escape, self._line_start)
        self._to_session += data
        self._flush_input()  # stops reading the client while the queue is full

    def _drop_client(self, why):
        if self._client is None:
            return
        LOG.info("Console of node %s: client %s %s", self.label, self.client_address, why)
        try:
            self._client.setblocking(True)
            self._client.settimeout(1.0)
            self._client.sendall(bytes(self._client_out) + b"\r\nhwdrivers: %s\r\n"
                                 % why.encode())
            self._client.shutdown(socket.SHUT_WR)
            _drain(self._client, DRAIN_WAIT, DRAIN_GAP)
        except OSError:
            pass
        self._close_client()


    def _close_client(self):
        if self._client is None:
            return
        try:
            self._selector.unregister(self._client)
        except (KeyError, ValueError):
            pass
        self._client.close()
        self._client = None
        self.client_address = None
        self._client_out.clear()

    def _on_wake(self, key, mask):
        os.read(self._wake_r, 64)

    # -- the end -----------------------------------------------------------------------------

    def _quit_session(self):
        session = self._session
        if session is None:
            return
        if self.command.quit_sequence and self.state == ON:
            try:
                os.write(session.master, self.command.quit_sequence)
                deadline = time.monotonic() + QUIT_WAIT
                while time.monotonic() < deadline:
                    if session.proc.poll() is not None:
                        break
                    session.drain()
                    time.sleep(0.05)
            except OSError:
                pass
        self._session = None
        session.end()

    def _shutdown(self):
        self._emit_raw(self._redactor.flush())
        self._end_cleanup()
        self._quit_session()
        if self.state != FAILED:
            self.state = STOPPED
            self._drop_client("the console was closed")
            try:
                self.log.write(b"\r\n--- hwdrivers: console closed at %s ---\r\n"
                               % _now().encode())
            except OSError:
                pass
        else:
            self._drop_client("the console failed: %s" % self.reason)
        self._selector.close()
        self.listener.close()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.log.close()
        self.outcome.set()
        if self.on_closed is not None:
            try:
                self.on_closed(self)
            except Exception:
                LOG.exception("Console of node %s: releasing its port failed", self.label)
