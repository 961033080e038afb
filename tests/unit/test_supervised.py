"""hwdrivers.common.supervised with real processes: exit, not EOF; nothing survives.

Small shell programs stand in for drivers and commands; every test checks
by pid in /proc that what they started is gone when the call returns.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

import pytest

from hwdrivers.common import environment
from hwdrivers.common import reaper
from hwdrivers.common import supervised
from tests.waits import wait_for

PR_GET_CHILD_SUBREAPER = 37


def alive(pid):
    """True while ``pid`` runs (a zombie is dead)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def pids_in(path):
    with open(path) as handle:
        return [int(p) for p in handle.read().split()]


def sh(script, **kwargs):
    kwargs.setdefault("timeout", 10.0)
    return supervised.run(["/bin/sh", "-c", script], **kwargs)


def test_output_status_and_input():
    done = sh('read line; echo "got $line"; echo err >&2; exit 3', input=b"hello\n")
    assert done == supervised.Completed(b"got hello\n", b"err\n", 3)
    assert sh("kill -9 $$").returncode == -9


def test_environment_is_minimal(monkeypatch):
    monkeypatch.setenv("HWDRIVERS_DB_PASSWORD", "conductor-secret")
    done = sh("env")
    assert b"conductor-secret" not in done.stdout
    names = {line.split(b"=", 1)[0].decode() for line in done.stdout.splitlines()}
    assert names <= set(environment.KEPT) | {"PWD", "SHLVL", "_"}
    assert environment.minimal({"X": "1"})["X"] == "1"


def test_a_program_that_cannot_start():
    with pytest.raises(supervised.StartFailed, match="No such file or directory"):
        supervised.run(["/nonexistent/program"], timeout=10.0)


def test_exit_not_eof_and_only_what_was_buffered(tmp_path):
    """A leftover that holds stdout, ignores SIGTERM and prints later changes nothing."""
    pids = tmp_path / "pids"
    start = time.monotonic()
    done = sh("(trap '' TERM; sleep 0.3; exec yes noise) & echo $! > %s; echo answer"
              % pids)
    assert done.stdout == b"answer\n" and done.returncode == 0
    assert time.monotonic() - start < 5.0
    assert [p for p in pids_in(pids) if alive(p)] == []


def test_setsid_children_die_with_the_call(tmp_path):
    pids = tmp_path / "pids"
    script = ("setsid sh -c 'echo $$ >> %(p)s; exec sleep 1000' & "
              "setsid sh -c 'trap \"\" TERM; echo $$ >> %(p)s; while :; do sleep 1; done' "
              "> /dev/null 2>&1 < /dev/null & "
              "while [ $(wc -l < %(p)s 2>/dev/null || echo 0) -lt 2 ]; do sleep 0.01; done"
              % {"p": pids})
    sh(script)
    left = pids_in(pids)
    assert len(left) == 2
    assert [p for p in left if alive(p)] == []


@pytest.mark.parametrize("limit", ["timeout", "output"])
def test_limits_kill_everything(tmp_path, limit):
    pids = tmp_path / "pids"
    script = ("setsid sh -c 'trap \"\" TERM; echo $$ >> %s; exec sleep 1000' & "
              "while [ ! -s %s ]; do sleep 0.01; done; %s"
              % (pids, pids, "exec sleep 1000" if limit == "timeout" else "exec yes"))
    error = supervised.Timeout if limit == "timeout" else supervised.OutputLimit
    start = time.monotonic()
    with pytest.raises(error):
        sh(script, timeout=3.0, max_output=10000)
    assert time.monotonic() - start < 3.0 + 3.0
    assert [p for p in pids_in(pids) if alive(p)] == []


def test_the_caller_dying_kills_everything(tmp_path):
    """The supervisor has PR_SET_PDEATHSIG: a conductor killed by SIGKILL leaves nothing."""
    pids = tmp_path / "pids"
    caller = subprocess.Popen([sys.executable, "-c", (
        "import sys; sys.path.insert(0, %r)\n"
        "from hwdrivers.common import supervised\n"
        "supervised.run(['/bin/sh', '-c', \"setsid sh -c 'echo $$ >> %s; exec sleep 1000' &"
        " echo $$ >> %s; exec sleep 1000\"], timeout=60)\n"
    ) % (os.getcwd(), pids, pids)])
    try:
        wait_for(lambda: pids.exists() and len(pids_in(pids)) == 2, timeout=20,
                 message="the program and its setsid child to start")
    finally:
        caller.kill()
        caller.wait()
    wait_for(lambda: not any(alive(p) for p in pids_in(pids)), timeout=10,
             message="the program and its setsid child to be killed")


def test_the_caller_never_becomes_a_subreaper():
    sh("true")
    flag = ctypes.c_int(-1)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0
    assert flag.value == 0


def test_descendants_by_scan_matches_the_children_files(tmp_path):
    """The /proc/*/stat fallback (kernels without ``children``) sees the same tree."""
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    try:
        wait_for(lambda: len(reaper.descendants(proc.pid)) == 2, timeout=10,
                 message="two children")
        tree = reaper._children_by_scan()
        assert sorted(tree.get(proc.pid, [])) == sorted(reaper.descendants(proc.pid))
    finally:
        for pid in reaper.descendants(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


def test_overhead_benchmark_runs_both_paths():
    """benchmarks/external_overhead.py at a tiny size: every call answered (no timing)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, os.path.join(root, "benchmarks", "external_overhead.py"),
         "--calls", "2"], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bare vs through the supervisor" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines()
            if line.split()[:1] in (["sh"], ["python"])]
    assert [(r[0], r[1]) for r in rows] == [("sh", "bare"), ("sh", "supervised"),
                                           ("python", "bare"), ("python", "supervised")]
    assert all(r[-1] == "0" for r in rows)  # no failed call
