"""Ctrl-C in ``hwdrivers``: bulk power stops starting nodes and reports each one;
an interrupted local power action leaves no pending target behind.

The commands run as real subprocesses sent SIGINT, with SIGINT's default
handler restored in the child (a non-interactive parent may have it
ignored, and Python then never raises KeyboardInterrupt). The signal is
sent once the first node's action is known to be running (its target is
published), so the assertions are about which nodes ran, not timing alone.
"""

import _thread
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from hwdrivers.cli import bulk
from hwdrivers.common import exception
from tests.functional.server_proc import ServerProcess

CLI = os.path.join(os.path.dirname(sys.executable), "hwdrivers")
#: Seconds each fake power call takes; a power action is a set and a read back.
DELAY = 2


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(*args, check=True):
    done = subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _start(*args):
    return subprocess.Popen([CLI] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.05)


@pytest.fixture
def local(tmp_path):
    """``(config path, db path)``: a private SQLite database, slow fake hardware."""
    db_path = tmp_path / "cli.sqlite"
    conf = tmp_path / "cli.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n[database]\nconnection = sqlite:///%s\n"
                    "[fake]\npower_delay = %s\n" % (tmp_path / "state", db_path, DELAY))
    return str(conf), db_path


def _slower(conf, delay):
    """A copy of the ``local`` config whose fake power calls take ``delay`` seconds."""
    slow = conf.replace(".conf", "-slow.conf")
    with open(conf) as handle:
        text = handle.read()
    with open(slow, "w") as handle:
        handle.write(text.replace("power_delay = %s" % DELAY, "power_delay = %s" % delay))
    return slow


def _row(db_path, name):
    with sqlite3.connect(str(db_path)) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM nodes WHERE name = ?", (name,)).fetchone())


def _interrupt_when(proc, started):
    _wait_for(lambda: started() or proc.poll() is not None, "the first action")
    assert proc.poll() is None, proc.communicate()
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return out, err, time.monotonic() - sent


# -- bulk.run, in process -------------------------------------------------------------

def _interrupting(first="a"):
    """An action that sends Ctrl-C to the main thread while ``first`` runs."""
    def act(ident):
        if ident == first:
            _thread.interrupt_main()
            time.sleep(0.3)  # still in flight when the main thread sees it
        return {"power_state": "power on"}
    return act


@pytest.fixture
def python_sigint():
    """SIGINT raising KeyboardInterrupt in this process, as in a terminal. Run
    in the background by a non-interactive shell (``cmd &``, as CI may run the
    suite), the test process starts with SIGINT ignored, and then
    ``_thread.interrupt_main`` does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("finish", [True, False], ids=["local", "http"])
def test_bulk_run_stops_starting_nodes_on_ctrl_c(finish, python_sigint):
    import io

    stream = io.StringIO()
    with pytest.raises(bulk.Interrupted) as caught:
        bulk.run(["a", "b", "c"], _interrupting(), "power on", parallel=1, stream=stream,
                 finish_in_flight=finish, abandoned_error="left to the server")
    results = caught.value.results
    assert [r["node"] for r in results] == ["a", "b", "c"]
    assert [r["result"] for r in results[1:]] == [bulk.NOT_STARTED] * 2
    if finish:  # waited for: its real outcome
        assert results[0] == {"node": "a", "result": "power on", "error": None}
        assert "waiting for the 1 in progress (a)" in stream.getvalue()
        assert bulk.summary(results) == "1 done, 2 not started"
    else:
        assert results[0] == {"node": "a", "result": bulk.ABANDONED,
                              "error": "left to the server"}
        assert bulk.summary(results) == "2 not started, 1 abandoned"
    assert isinstance(caught.value, KeyboardInterrupt)  # uncaught, it exits 130


@pytest.mark.parametrize("parallel", [0, -3, True])
def test_bulk_run_refuses_parallel_below_one(parallel):
    with pytest.raises(exception.InvalidParameterValue, match="--parallel"):
        bulk.run(["a"], lambda ident: "x", "power on", parallel=parallel)


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_parallel_option_below_one_is_refused_naming_it(local, value):
    conf, _ = local
    done = _cli("--config-file", conf, "node", "power", "on", "--all", "--parallel", value,
                check=False)
    assert done.returncode == 2
    assert "--parallel" in done.stderr and "1 or more" in done.stderr
    assert "Traceback" not in done.stderr


# -- the command, sent SIGINT ------------------------------------------------------------

def test_ctrl_c_stops_a_local_bulk_power_and_reports_each_node(local):
    conf, db_path = local
    for name in ("s1", "s2", "s3"):
        _cli("--config-file", conf, "node", "create", "--driver", "fake-hardware",
             "--name", name)
    proc = _start("--config-file", conf, "node", "power", "on", "--name-glob", "s*",
                  "--parallel", "1")
    out, err, after = _interrupt_when(
        proc, lambda: _row(db_path, "s1")["target_power_state"] == "power on")
    assert proc.returncode == 130, err
    # s1 was in flight: waited for, done; the others never started.
    lines = {line.split("|")[1].strip(): line for line in out.splitlines()
             if line.startswith("| s")}
    assert "power on" in lines["s1"]
    assert "not started" in lines["s2"] and "not started" in lines["s3"]
    assert "ERROR: interrupted: 1 done, 2 not started (of 3 nodes)" in err
    assert "Traceback" not in err
    rows = {name: _row(db_path, name) for name in ("s1", "s2", "s3")}
    assert rows["s1"]["power_state"] == "power on"
    assert rows["s2"]["power_state"] is None and rows["s3"]["power_state"] is None
    assert all(r["target_power_state"] is None and r["reservation"] is None
               for r in rows.values())
    assert after < 3 * 2 * DELAY  # not the whole fleet: at most s1's action


def test_second_ctrl_c_releases_the_nodes_still_in_flight(local):
    """Stopping the wait leaves no lock and no target behind, and says so."""
    conf, db_path = local
    slow = _slower(conf, 30)
    for name in ("a1", "a2"):
        _cli("--config-file", slow, "node", "create", "--driver", "fake-hardware",
             "--name", name)
    proc = _start("--config-file", slow, "node", "power", "on", "--name-glob", "a*",
                  "--parallel", "1", "-f", "json")
    _wait_for(lambda: _row(db_path, "a1")["target_power_state"] == "power on"
              or proc.poll() is not None, "a1's action")
    said = []
    reader = threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True)
    reader.start()
    proc.send_signal(signal.SIGINT)
    # Two signals before Python handles the first would count as one.
    _wait_for(lambda: any("waiting for the 1 in progress" in line for line in said),
              "the first Ctrl-C to be handled")
    assert proc.poll() is None
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out = proc.stdout.read()
    proc.wait(timeout=60)
    reader.join(10)
    err = "".join(said)
    assert time.monotonic() - sent < 10  # not the 30 s power call
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    results = json.loads(out)
    assert [r["result"] for r in results] == [bulk.ABANDONED, bulk.NOT_STARTED]
    assert "lock was released and its target cleared" in results[0]["error"]
    row = _row(db_path, "a1")
    assert row["reservation"] is None and row["target_power_state"] is None
    assert "abandoned" in row["last_error"]
    assert _row(db_path, "a2")["last_error"] is None
    history = json.loads(_cli("--config-file", slow, "node", "history", "a1",
                              "-f", "json").stdout)
    assert any("abandoned" in event["event"] for event in history)
    # Nothing holds it: the next action runs at once.
    done = _cli("--config-file", conf, "node", "power", "off", "a1", "-f", "json")
    assert json.loads(done.stdout) == {"power_state": "power off"}


@pytest.fixture
def server(tmp_path):
    proc = ServerProcess(tmp_path, {"fake": {"power_delay": DELAY}}).start()
    yield proc
    proc.stop()


def test_ctrl_c_over_http_leaves_the_node_in_flight_to_the_server(server):
    for name in ("h1", "h2", "h3"):
        _cli("--url", server.url, "node", "create", "--driver", "fake-hardware",
             "--name", name)
    proc = _start("--url", server.url, "node", "power", "on", "--name-glob", "h*",
                  "--parallel", "1", "-f", "json")

    def target(name):
        return server.call("GET", "/v1/nodes/%s/states" % name)[1]

    out, err, after = _interrupt_when(
        proc, lambda: target("h1")["target_power_state"] == "power on")
    assert proc.returncode == 130, err
    results = json.loads(out)
    assert [r["node"] for r in results] == ["h1", "h2", "h3"]
    assert results[0]["result"] == bulk.ABANDONED
    assert "the server carries on" in results[0]["error"]
    assert [r["result"] for r in results[1:]] == [bulk.NOT_STARTED] * 2
    assert "ERROR: interrupted: 2 not started, 1 abandoned (of 3 nodes)" in err
    assert err.count("ERROR:") == 1, err  # reported once, by the report
    assert after < 2 * DELAY - 0.5  # abandoned: h1's action was not waited for
    # The server finishes h1; h2 and h3 were never asked.
    _wait_for(lambda: target("h1")["power_state"] == "power on", "h1 on the server")
    assert target("h2")["power_state"] is None and target("h3")["power_state"] is None
    assert target("h2")["target_power_state"] is None


def test_ctrl_c_on_one_node_over_http_says_the_server_carries_on(server):
    _cli("--url", server.url, "node", "create", "--driver", "fake-hardware", "--name", "o1")
    proc = _start("--url", server.url, "node", "power", "on", "o1")
    out, err, _ = _interrupt_when(proc, lambda: server.call(
        "GET", "/v1/nodes/o1/states")[1]["target_power_state"] == "power on")
    assert proc.returncode == 130, err
    assert err.strip() == ("ERROR: interrupted; a request the API had accepted carries on "
                           "there: check the node with 'hwdrivers node show'"), err


def test_ctrl_c_during_a_local_power_action_clears_its_target(local):
    conf, db_path = local
    slow = _slower(conf, 20)
    _cli("--config-file", slow, "node", "create", "--driver", "fake-hardware",
         "--name", "c1")
    proc = _start("--config-file", slow, "node", "power", "on", "c1")
    out, err, after = _interrupt_when(
        proc, lambda: _row(db_path, "c1")["target_power_state"] == "power on")
    assert proc.returncode == 130, err
    assert after < 10  # the 20 s power call was not waited for
    assert "Traceback" not in err
    row = _row(db_path, "c1")
    assert row["target_power_state"] is None and row["reservation"] is None
    assert "interrupted" in row["last_error"] and "target power state was cleared" in \
        row["last_error"]
    history = json.loads(_cli("--config-file", slow, "node", "history", "c1",
                              "-f", "json").stdout)
    assert any("interrupted" in event["event"] for event in history)
    # Nothing holds it: the next action runs.
    done = _cli("--config-file", conf, "node", "power", "off", "c1", "-f", "json")
    assert json.loads(done.stdout) == {"power_state": "power off"}
