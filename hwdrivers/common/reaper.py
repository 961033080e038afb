"""The per-run supervisor that leaves nothing behind (a script, standard library only).

Why a process of its own: killing a program's process group misses the
children that called ``setsid()``/``setpgid()`` or daemonized. Linux lets
a process declare itself a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``):
every orphan below it is then reparented to it instead of to init, whatever
session or group it made for itself, so all a program started stays in the
subreaper's subtree, where ``/proc/<pid>/task/<tid>/children`` finds it. The
conductor must not be a subreaper itself (it would inherit the orphans of
every tool it runs, ssh control masters included, and have to reap them),
so each run gets this small process between the caller and the program
(:mod:`hwdrivers.common.supervised` starts it)::

    python -I -S reaper.py <status-fd> <grace> <caller-pid> -- <program> [args...]

It runs the program on its own stdin, stdout and stderr, waits for it to
exit, writes ``exit <code>`` on the status fd (``exec <errno>`` when the
program could not be started), closes nothing the caller reads from but
holds none of it either, then SIGTERMs whatever the program left behind,
SIGKILLs what is still there ``grace`` seconds later, reaps it all and
exits. SIGTERM to the supervisor (the caller's timeout or output limit, or
the caller's thread dying: ``PR_SET_PDEATHSIG``) SIGKILLs the whole subtree
at once.

It is started with ``-I -S`` and imports only C modules (``_signal``
rather than ``signal``, no ``subprocess``): each run pays its start-up,
and those imports cost more than the rest of it (benchmarks/).
"""

import ctypes
import os
import sys
import time

import _signal

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
#: After SIGKILL, how long to wait for processes stuck in the kernel before giving up.
KILL_WAIT = 5.0


class Abort(BaseException):
    """SIGTERM arrived: kill everything now."""


def _on_sigterm(signum, frame):
    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)  # once is enough
    raise Abort()


def _prctl(option, value):
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def _children(pid):
    kids = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid), "rb") as handle:
                kids.extend(int(k) for k in handle.read().split())
        except OSError:
            pass
    return kids


def _children_by_scan():
    """``{ppid: [pid...]}`` from every /proc/<pid>/stat (kernels without ``children``)."""
    tree = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, "rb") as handle:
                    ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(root):
    """Every process below ``root`` (zombies included), parents before children."""
    if os.path.exists("/proc/%d/task/%d/children" % (root, root)):
        children = _children
    else:
        tree = _children_by_scan()

        def children(pid):
            return tree.get(pid, [])
    found, stack = [], [root]
    while stack:
        for kid in children(stack.pop()):
            found.append(kid)
            stack.append(kid)
    return found


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all(grace):
    """SIGTERM everything below us, SIGKILL after ``grace``; return when none is left.

    Repeats the walk until the subtree is empty, so a process forked while
    the others were being signalled is found on the next round, and reaps
    as it goes (orphans are reparented to us, the subreaper).
    """
    me = os.getpid()
    term_until = time.monotonic() + grace
    give_up = term_until + KILL_WAIT
    termed = set()
    pause = 0.001
    while True:
        _reap()
        left = descendants(me)
        now = time.monotonic()
        if not left or now > give_up:
            return
        for pid in left:
            try:
                if now >= term_until:
                    os.kill(pid, _signal.SIGKILL)
                elif pid not in termed:
                    termed.add(pid)
                    os.kill(pid, _signal.SIGTERM)
                    os.kill(pid, _signal.SIGCONT)  # a stopped process must see it
            except ProcessLookupError:
                pass
        time.sleep(pause)
        pause = min(pause * 2, 0.02)


def _spawn(program):
    """Fork and exec ``program`` on our stdio; (pid, None) or (None, errno)."""
    errors_r, errors_w = os.pipe()  # close-on-exec: EOF when the exec succeeded
    blocked = {_signal.SIGTERM}
    _signal.pthread_sigmask(_signal.SIG_BLOCK, blocked)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(errors_r)
            for signum in (_signal.SIGTERM, _signal.SIGPIPE, _signal.SIGXFSZ):
                _signal.signal(signum, _signal.SIG_DFL)
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, blocked)
            os.execvp(program[0], program)
        except OSError as exc:
            os.write(errors_w, b"%d" % (exc.errno or 0))
        finally:
            os._exit(127)
    os.close(errors_w)
    try:
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, blocked)
        failure = os.read(errors_r, 32)
    finally:
        os.close(errors_r)
    if failure:
        os.waitpid(pid, 0)
        return None, int(failure)
    return pid, None


def _report(status_fd, line):
    try:
        os.write(status_fd, line)
    except OSError:  # the caller stopped listening: it is aborting anyway
        pass


def _detach_stdio():
    """Hold none of the caller's pipes: its EOF and EPIPE then follow the program."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _wait_for(pid):
    """The exit code of ``pid`` (negative: killed by that signal), reaping orphans."""
    while True:
        reaped, status = os.waitpid(-1, 0)
        if reaped == pid:
            return os.waitstatus_to_exitcode(status)


def main(argv):
    status_fd, grace, caller = int(argv[1]), float(argv[2]), int(argv[3])
    program = argv[5:]
    _signal.signal(_signal.SIGTERM, _on_sigterm)
    os.set_inheritable(status_fd, False)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, _signal.SIGTERM)
    try:
        if os.getppid() != caller:  # the caller died before PDEATHSIG was set
            raise Abort()
        pid, failure = _spawn(program)
        if failure is not None:
            _report(status_fd, b"exec %d\n" % failure)
            return 0
        _detach_stdio()
        code = _wait_for(pid)
        _report(status_fd, b"exit %d\n" % code)
        kill_all(grace)
    except Abort:
        kill_all(0.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
