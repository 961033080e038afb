"""``hwdrivers`` ended by SIGTERM or SIGHUP, or read by a pipe that closes early.

``timeout 60 hwdrivers node power on --all`` sends SIGTERM, a closed ssh
session SIGHUP: both killed the command on the spot, leaving the nodes in
flight locked with their targets shown and no word of what became of each
node. They now take Ctrl-C's path (exit status 128 + the signal).

``hwdrivers node power on --all 2>&1 | grep -m1 failed``: the reader of the
progress lines goes away; the command used to die of BrokenPipeError at its
next line, nodes in flight still locked and the rest never started.

The commands run as real subprocesses on a private SQLite database whose fake
power calls take a while; signals are sent once the first node's action is
known to be running (its target is published).
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

CLI = os.path.join(os.path.dirname(sys.executable), "hwdrivers")


def _default_signals():
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
        signal.signal(signum, signal.SIG_DFL)


@pytest.fixture
def local(tmp_path, request):
    """``(run, start, row)`` on a private database; fake power calls take 1 s
    (or the test's ``indirect`` parameter)."""
    db_path = tmp_path / "cli.sqlite"
    conf = tmp_path / "cli.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n[database]\nconnection = sqlite:///%s\n"
                    "[fake]\npower_delay = %s\n"
                    % (tmp_path / "state", db_path, getattr(request, "param", 1.0)))

    def run(*args):
        done = subprocess.run([CLI, "--config-file", str(conf)] + list(args),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    def start(*args, **kwargs):
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([CLI, "--config-file", str(conf)] + list(args),
                                text=True, preexec_fn=_default_signals, **kwargs)

    def row(name):
        with sqlite3.connect(str(db_path)) as conn:
            conn.row_factory = sqlite3.Row
            return dict(conn.execute("SELECT * FROM nodes WHERE name = ?",
                                     (name,)).fetchone())

    return run, start, row


def _wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.05)


def _create(run, *names):
    for name in names:
        run("node", "create", "--driver", "fake-hardware", "--name", name)


def test_sigterm_ends_a_local_bulk_power_like_ctrl_c(local):
    run, start, row = local
    _create(run, "t1", "t2", "t3")
    proc = start("node", "power", "on", "--name-glob", "t*", "--parallel", "1")
    _wait_for(lambda: row("t1")["target_power_state"] == "power on"
              or proc.poll() is not None, "t1's action")
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    lines = {line.split("|")[1].strip(): line for line in out.splitlines()
             if line.startswith("| t")}
    assert "power on" in lines["t1"]  # in flight: waited for
    assert "not started" in lines["t2"] and "not started" in lines["t3"]
    assert "1 done, 2 not started (of 3 nodes)" in err
    rows = [row(name) for name in ("t1", "t2", "t3")]
    assert all(r["reservation"] is None and r["target_power_state"] is None
               for r in rows), rows
    assert rows[0]["power_state"] == "power on" and rows[1]["power_state"] is None


def test_sighup_during_one_local_power_action_clears_its_target(local):
    run, start, row = local
    _create(run, "h1")
    proc = start("node", "power", "on", "h1")
    _wait_for(lambda: row("h1")["target_power_state"] == "power on"
              or proc.poll() is not None, "h1's action")
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGHUP)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGHUP, err
    assert err.strip() == "ERROR: terminated (SIGHUP)", err
    h1 = row("h1")
    assert h1["reservation"] is None and h1["target_power_state"] is None
    assert "interrupted" in h1["last_error"]


@pytest.mark.parametrize("local", [0.1], indirect=True)
def test_progress_reader_leaving_does_not_abandon_the_nodes(local):
    run, start, row = local
    names = ("p1", "p2", "p3")
    _create(run, *names)
    proc = start("node", "power", "on", "--name-glob", "p*", "--parallel", "1",
                 "-f", "json", stdout=subprocess.DEVNULL)
    first = proc.stderr.readline()  # then the reader goes, as head -1 does
    proc.stderr.close()
    assert first.startswith("[1/3] p1"), first
    proc.wait(timeout=60)
    assert proc.returncode == 0
    rows = [row(name) for name in names]
    assert all(r["power_state"] == "power on" and r["reservation"] is None
               and r["target_power_state"] is None for r in rows), rows


def test_escape_sequences_in_log_lines_are_shown_escaped(tmp_path):
    """A retry warning quotes the BMC or tool, escape sequences and all; the
    command's log handler (set up by main) shows them escaped."""
    code = """
import logging, sys
from hwdrivers.cli import commands
from hwdrivers.cmd import cli
real = commands.run
def run(*args, **kwargs):
    logging.getLogger("hwdrivers.x").warning("BMC said \\x1b]0;owned\\x07")
    return real(*args, **kwargs)
commands.run = run
sys.exit(cli.main(sys.argv[1:]))
"""
    done = subprocess.run([sys.executable, "-c", code, "driver", "list", "-f", "value",
                           "-c", "name"], capture_output=True, text=True, timeout=60,
                          cwd=str(tmp_path), env={k: v for k, v in os.environ.items()
                                                  if not k.startswith("HWDRIVERS_")})
    assert done.returncode == 0, done.stderr
    assert done.stderr == "WARNING hwdrivers.x: BMC said \\x1b]0;owned\\x07\n"
