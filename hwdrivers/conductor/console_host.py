"""One process that forks every console's supervisor: a tenth of the memory each.

Each console session (and each of its cleanup commands) runs under a
supervisor, :mod:`hwdrivers.common.reaper`, a child subreaper that kills
everything the program started. Started as ``python -I -S reaper.py`` per
session, each supervisor was a fresh interpreter: ~9.7 MB RSS, of which
~3.5 MB private (an interpreter's heap is written at start-up): 1,000
consoles cost 3.5 GB of private memory for processes that only wait.

Instead the conductor starts this script once (``python -I -S
console_host.py``, standard library C modules and the reaper only: no
hwdrivers package, no oslo.config or SQLAlchemy) and asks it, over a Unix
socket, to *fork* each supervisor. A forked child shares the host's
interpreter pages copy-on-write and, blocked in ``waitpid``, writes few of
them: ~0.9 MB private each (benchmarks/console_memory.py). Each child is
still a supervisor of its own, the reaper's ``main`` with its own subreaper
subtree, so what a session starts is killed with it exactly as before; one
process serving every console's programs could not tell whose an orphan
was once it had called ``setsid()``.

Who dies with whom: the host has ``PR_SET_PDEATHSIG`` on the conductor's
thread that keeps it (:class:`Host`, a thread that lives as long as the
conductor), each supervisor on the host; the host is a subreaper too and
SIGKILLs any process reparented to it that is not one of its supervisors
(what a SIGKILLed supervisor left). The conductor gets each supervisor's
pidfd, so it signals and waits for that very process, never a reused pid.

Wire format (``SOCK_SEQPACKET``, one message each way): the request is
``grace\\0argc\\0argv...\\0KEY=VALUE...`` with two descriptors (the session's
stdio, the status pipe's write end); the answer ``ok <pid>`` with the
supervisor's pidfd, or ``err <errno>``.

This file is both that script (``__main__``) and, imported, the
conductor's side of it; the module level imports only the standard library
so that the script runs with ``-I -S``.
"""

import array
import os
import select
import sys

import _signal
import _socket

_MAX_MESSAGE = 1024 * 1024


# -- the host (runs as a script) ---------------------------------------------------------

def _children(me):
    kids = []
    try:
        tids = os.listdir("/proc/%d/task" % me)
    except OSError:
        return kids
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (me, tid), "rb") as handle:
                kids.extend(int(k) for k in handle.read().split())
        except OSError:
            pass
    return kids


def _supervise(reaper, fds, grace, me, argv, env):
    """In the forked child: become the session's supervisor (never returns)."""
    stdio, status = fds
    try:
        import gc
        gc.disable()  # a collection would write to the pages shared with the host
        _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
        os.setsid()
        for fd in (0, 1, 2):
            os.dup2(stdio, fd)
        if status != 3:
            os.dup2(status, 3)
            status = 3
        os.closerange(4, 1 << 16)
        os.chdir("/")
        os.environ.clear()
        os.environ.update(env)
        code = reaper.main(["reaper", str(status), grace, str(me), "--", *argv])
    except BaseException:
        code = 127
    os._exit(code or 0)


def _serve(sock, reaper):
    import gc
    me = os.getpid()
    supervisors = set()
    try:  # no pidfd (Linux before 5.3): the conductor starts supervisors itself
        os.close(os.pidfd_open(me))
        unsupported = None
    except (OSError, AttributeError) as exc:
        unsupported = getattr(exc, "errno", None) or 38  # ENOSYS
    gc.collect()
    gc.freeze()  # the children's collections leave the host's objects (and pages) alone
    while True:
        ready, _, _ = select.select([sock], [], [], 1.0)
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            supervisors.discard(pid)
        for pid in _children(me):
            if pid not in supervisors:  # reparented to us: a dead supervisor's leftover
                try:
                    os.kill(pid, _signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not ready:
            continue
        try:
            message, ancillary, _, _ = sock.recvmsg(_MAX_MESSAGE,
                                                    _socket.CMSG_SPACE(2 * 4))
        except OSError:
            return  # the conductor's end is broken: as gone
        if not message:
            return  # the conductor is gone: our supervisors follow (PDEATHSIG)
        fds = array.array("i")
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        try:
            fields = message.decode("utf-8", "surrogateescape").split("\0")
            grace, argc = fields[0], int(fields[1])
            argv = fields[2:2 + argc]
            env = dict(f.split("=", 1) for f in fields[2 + argc:] if "=" in f)
            if len(fds) != 2 or not argv:
                raise ValueError("bad request")
            if unsupported:
                raise OSError(unsupported, "no pidfd")
            pid = os.fork()
            if pid == 0:
                sock.close()
                _supervise(reaper, list(fds), grace, me, argv, env)
            supervisors.add(pid)
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                os.kill(pid, _signal.SIGKILL)  # not to be had: the caller starts another
                raise
            try:
                sock.sendmsg([b"ok %d" % pid], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                                 array.array("i", [pidfd]).tobytes())])
            finally:
                os.close(pidfd)
        except OSError as exc:
            sock.send(b"err %d" % (exc.errno or 0))
        except ValueError:
            sock.send(b"err 22")
        finally:
            for fd in fds:
                os.close(fd)


def main(argv):
    """``console_host.py <socket fd> <caller pid> <reaper dir>``."""
    fd, caller, reaper_dir = int(argv[1]), int(argv[2]), argv[3]
    sys.path.insert(0, reaper_dir)
    import reaper
    reaper._prctl(reaper.PR_SET_CHILD_SUBREAPER, 1)
    reaper._prctl(reaper.PR_SET_PDEATHSIG, _signal.SIGTERM)
    try:  # loaded once here, not again by every supervisor (its pages stay shared)
        libc = reaper.ctypes.CDLL(None, use_errno=True)

        def prctl(option, value, _prctl=libc.prctl):
            return _prctl(option, value, 0, 0, 0) == 0
        reaper._prctl = prctl
    except (OSError, AttributeError):
        pass
    if os.getppid() != caller:  # the conductor died before PDEATHSIG was set
        return 0
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, fd)
    _serve(sock, reaper)
    return 0


# -- the conductor's side --------------------------------------------------------------------

class HostedProcess:
    """A supervisor the host forked, as much of ``subprocess.Popen`` as the relay uses."""

    hosted = True

    def __init__(self, pid, pidfd):
        self.pid = pid
        self.pidfd = pidfd
        self.returncode = None

    def poll(self):
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = 0  # its status is the host's; the relay reads the pipe
            os.close(self.pidfd)
        return self.returncode

    def wait(self, timeout=None):
        import subprocess
        if self.returncode is None:
            if not select.select([self.pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("console supervisor", timeout)
            self.poll()
        return self.returncode

    def send_signal(self, signum):
        if self.returncode is not None:
            raise ProcessLookupError(self.pid)
        import signal
        signal.pidfd_send_signal(self.pidfd, signum)

    def __del__(self):
        if self.returncode is None:
            try:
                os.close(self.pidfd)
            except OSError:
                pass


class Host:
    """The conductor's host process, started on first use, again if it died."""

    def __init__(self, reaper_dir):
        import threading
        self.reaper_dir = reaper_dir
        self._lock = threading.Lock()
        self._sock = None

    def _keep(self, ready, started):
        """Start the host and wait for it, on this thread: its PDEATHSIG is this thread's."""
        import socket
        import subprocess
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", os.path.abspath(__file__),
                 str(theirs.fileno()), str(os.getpid()), self.reaper_dir],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=None,
                pass_fds=(theirs.fileno(),), start_new_session=True, close_fds=True,
                env={"PATH": os.defpath, "LC_ALL": "C"}, cwd="/")
        except OSError as exc:
            ours.close()
            theirs.close()
            ready.append(exc)
            started.set()
            return
        theirs.close()
        ready.append(ours)
        started.set()
        proc.wait()
        with self._lock:
            if self._sock is ours:
                self._sock = None
            ours.close()

    def _ensure(self):
        """The socket to the host, started if need be (the caller holds the lock)."""
        import threading
        if self._sock is not None:
            return self._sock
        ready, started = [], threading.Event()
        threading.Thread(target=self._keep, args=(ready, started),
                         name="hwdrivers-console-host", daemon=True).start()
        started.wait(30)
        if not ready or isinstance(ready[0], Exception):
            raise OSError("the console host cannot start: %s"
                          % (ready[0] if ready else "no answer"))
        self._sock = ready[0]
        return self._sock

    def spawn(self, argv, env, stdio, status_w, grace):
        """A supervisor running ``argv`` on ``stdio`` (:class:`HostedProcess`); OSError if not.

        A host found dead (it was killed) is replaced once, here.
        """
        import socket
        fields = [repr(float(grace)), str(len(argv)), *argv,
                  *("%s=%s" % kv for kv in env.items())]
        message = "\0".join(fields).encode("utf-8", "surrogateescape")
        for _attempt in (1, 2):
            with self._lock:
                sock = self._ensure()
                try:
                    sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                              array.array("i", [stdio, status_w]).tobytes())])
                    answer, fds, _, _ = socket.recv_fds(sock, 64, 1)
                except OSError:
                    answer, fds = b"", []
                if not answer:  # the host is gone: the next try starts another
                    if self._sock is sock:
                        self._sock = None
                    continue
            if answer.startswith(b"ok ") and fds:
                return HostedProcess(int(answer.split()[1]), fds[0])
            for fd in fds:
                os.close(fd)
            code = int(answer.split()[1])
            raise OSError(code, os.strerror(code))
        raise OSError("the console host ended")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
