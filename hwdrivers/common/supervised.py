"""Run a program so that its call ends when it exits and nothing it started survives.

Two rules for every program the conductor runs on behalf of a node:

- **The call ends when the program exits**, not when its stdout closes: a
  background child that inherited stdout and keeps running must not turn a
  finished answer into a timeout. What the program wrote before it exited is
  read, including what sits in the pipe when it exits; nothing waits for an
  EOF a grandchild holds back.
- **Nothing it started outlives the call**, not even children that called
  ``setsid()`` or daemonized: each run goes through a small supervisor
  process, :mod:`hwdrivers.common.reaper`, a Linux child subreaper that
  kills the program's whole subtree after the program exits (SIGTERM, then
  SIGKILL after :data:`GRACE` seconds), on timeout and when the output limit
  is passed (SIGKILL at once), and when the caller dies.

:func:`run` returns once the supervisor has exited, so everything is gone
by then. A run is bounded by its timeout: at the deadline the supervisor is
told to kill everything, which takes milliseconds; should the supervisor
itself not exit within :data:`ABORT_WAIT`, its process group is killed.
"""

import dataclasses
import fcntl
import os
import selectors
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping
from collections.abc import Sequence

from hwdrivers.common import environment

REAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reaper.py")
#: Seconds what a program left behind has, after it exited, to end on SIGTERM.
GRACE = 0.5
#: Seconds to wait for the supervisor after telling it to kill everything.
ABORT_WAIT = 5.0
#: Bytes a program may print on stdout or on stderr before it is killed.
MAX_OUTPUT = 1024 * 1024
class StartFailed(Exception):
    """The program could not be started (``reason`` says why, e.g. a bad ``#!`` line)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Timeout(Exception):
    """The program did not exit within the timeout; its subtree was killed."""


class OutputLimit(Exception):
    """The program printed more than the limit on one stream; its subtree was killed."""


@dataclasses.dataclass(frozen=True)
class Completed:
    stdout: bytes
    stderr: bytes
    returncode: int  # negative: killed by that signal


def run(argv: Sequence[str], input: bytes = b"", *, timeout: float,
        env: Mapping[str, str] | None = None, cwd: str = "/",
        max_output: int = MAX_OUTPUT, grace: float = GRACE) -> Completed:
    """Run ``argv`` with ``input`` on stdin; its output once it has exited.

    Raises :class:`Timeout` when it runs past ``timeout`` seconds,
    :class:`OutputLimit` past ``max_output`` bytes on a stream, and
    :class:`StartFailed` when it cannot be executed. Whatever happens, every
    process it started is dead when this returns or raises.
    """
    deadline = time.monotonic() + timeout
    status_r, status_w = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", REAPER, str(status_w), repr(float(grace)),
             str(os.getpid()), "--", *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(status_w,), start_new_session=True, close_fds=True,
            env=environment.minimal() if env is None else dict(env), cwd=cwd)
    except OSError as exc:
        os.close(status_r)
        raise StartFailed("the supervisor %s cannot start: %s"
                          % (sys.executable, exc.strerror or exc)) from None
    finally:
        os.close(status_w)
    call = _Call(proc, status_r, deadline, max_output)
    try:
        try:
            report = call.exchange(input)
        finally:
            call.close_streams()
        if report is None or not report.startswith((b"exit ", b"exec ")):
            tail = call.stderr_text()
            raise StartFailed("the supervisor ended without starting it%s"
                              % (": " + tail if tail else ""))
        kind, value = report.split()
        if kind == b"exec":
            raise StartFailed(os.strerror(int(value)))
        call.wait_supervisor()
        return Completed(call.output(proc.stdout), call.output(proc.stderr), int(value))
    except BaseException:
        call.abort()
        raise
    finally:
        os.close(status_r)


class _Call:
    """One run's pipes: feed stdin, collect output and the supervisor's report."""

    def __init__(self, proc, status_fd, deadline, max_output):
        self.proc = proc
        self.status_fd = status_fd
        self.deadline = deadline
        self.max_output = max_output
        self.chunks = {proc.stdout: [], proc.stderr: []}
        self.sizes = {proc.stdout: 0, proc.stderr: 0}

    def output(self, stream):
        return b"".join(self.chunks[stream])

    def stderr_text(self):
        return self.output(self.proc.stderr).decode("utf-8", "replace").strip()[-300:]

    def _take(self, stream, block):
        self.chunks[stream].append(block)
        self.sizes[stream] += len(block)
        if self.sizes[stream] > self.max_output:
            raise OutputLimit()

    def _write(self, selector, stream, pending):
        try:
            pending = pending[os.write(stream.fileno(), pending[:65536]):]
        except BrokenPipeError:  # the program closed stdin unread
            pending = pending[:0]
        if not pending:
            selector.unregister(stream)
            stream.close()
        return pending

    def exchange(self, data):
        """Until the supervisor reports the program's exit: the report line, or None.

        None means the supervisor ended without one (it could not start).
        """
        proc = self.proc
        pending = memoryview(data)
        report = b""
        with selectors.DefaultSelector() as selector:
            if pending:
                os.set_blocking(proc.stdin.fileno(), False)
                selector.register(proc.stdin, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()
            for stream in self.chunks:
                selector.register(stream, selectors.EVENT_READ)
            selector.register(self.status_fd, selectors.EVENT_READ)
            while not report.endswith(b"\n"):
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout()
                for key, _ in selector.select(remaining):
                    stream = key.fileobj
                    if stream is proc.stdin:
                        pending = self._write(selector, stream, pending)
                    elif stream is self.status_fd:
                        block = os.read(stream, 64)
                        if not block:
                            self._drain()
                            return None
                        report += block
                    else:
                        block = os.read(stream.fileno(), 65536)
                        if block:
                            self._take(stream, block)
                        else:
                            selector.unregister(stream)
        self._drain()
        return report.strip()

    def _drain(self):
        """Read what the pipes held when the program exited, and no more.

        A leftover may hold a pipe open and keep writing; only the bytes
        buffered now (FIONREAD) are read, so neither its EOF nor its output
        is waited for.
        """
        for stream in self.chunks:
            fd = stream.fileno()
            try:
                available = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
            except OSError:
                continue
            os.set_blocking(fd, False)
            while available > 0:
                try:
                    block = os.read(fd, min(available, 65536))
                except BlockingIOError:
                    break
                if not block:
                    break
                available -= len(block)
                self._take(stream, block)

    def close_streams(self):
        """Close our ends: a leftover still writing gets EPIPE, not our attention."""
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if not stream.closed:
                stream.close()

    def _supervisor_exited(self, timeout):
        """Wait up to ``timeout`` for EOF on the status pipe: the supervisor is gone."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.status_fd, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    return False
                if not os.read(self.status_fd, 64):
                    return True

    def wait_supervisor(self):
        """Until the deadline, wait for the supervisor to have killed the leftovers.

        At the deadline it is told to kill them at once (:meth:`abort`); the
        program's answer stands, since it exited in time.
        """
        if self._supervisor_exited(max(0.0, self.deadline - time.monotonic())):
            self._reap()
        else:
            self.abort()

    def abort(self):
        """Have the supervisor SIGKILL everything; kill its group if it does not exit."""
        proc = self.proc
        if proc.returncode is not None:
            return
        if not _exited(proc.pid):
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._supervisor_exited(ABORT_WAIT)
        self._reap()

    def _reap(self):
        """SIGKILL the supervisor's process group, then reap the supervisor.

        Whatever is left in the group (nothing, when the supervisor did its
        job) goes too. Until the supervisor is reaped its pid, and so its
        group id, cannot be reused: the signal reaches nobody else.
        """
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def _exited(pid):
    """True once ``pid`` (our child) has exited, without reaping it."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
