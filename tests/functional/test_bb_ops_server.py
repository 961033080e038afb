"""Running hwdrivers-server as an operator does: a second server, signals, config typos.

Every test runs the real ``hwdrivers-server`` (tests/functional/server_proc.py).
"""

import signal
import subprocess
import time

from tests.functional import server_proc
from tests.waits import wait_for


def _second(first, tmp_path, name="second"):
    """A server with ``first``'s database and state on another port, not started."""
    second = server_proc.ServerProcess(tmp_path, name=name,
                                       options={"fake": {"power_delay": 0}})
    assert second.db_path == first.db_path
    return second


def test_second_server_on_the_same_sqlite_file_is_refused(tmp_path):
    """It used to start: its recovery released the running server's lock and
    marked its power action aborted ("conductor restart") mid-operation."""
    first = server_proc.ServerProcess(tmp_path, name="first",
                                      options={"fake": {"power_delay": 3}}).start()
    try:
        status, _ = first.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                     "name": "busy"})
        assert status == 201
        status, _ = first.call("PUT", "/v1/nodes/busy/states/power",
                               {"target": "power on"})
        assert status == 202
        second = _second(first, tmp_path)
        result = subprocess.run([server_proc.SERVER, "--config-file",
                                 str(second.config_path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result.stdout + result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert "another hwdrivers-server (pid %d) already serves the SQLite database %s" % (
            first.proc.pid, first.db_path) in line, line
        assert "[database] connection" in line
        assert "released" not in result.stderr and "serving on" not in result.stdout
        [row] = first.db_rows("SELECT reservation, last_error FROM nodes")
        assert row["reservation"] and row["last_error"] is None

        def done():
            return first.call("GET", "/v1/nodes/busy")[1]["power_state"] == "power on"
        wait_for(done, timeout=60, message="the first server's power action to finish")
        node = first.call("GET", "/v1/nodes/busy")[1]
        assert node["last_error"] is None and node["target_power_state"] is None
    finally:
        assert first.stop() == 0, first.log()
    # Once the first is gone (or dies: the kernel drops its lock), the next starts.
    second.start()
    assert second.stop() == 0, second.log()


def test_a_killed_server_does_not_block_the_next(tmp_path):
    first = server_proc.ServerProcess(tmp_path, name="first").start()
    first.kill()
    second = _second(first, tmp_path).start()
    started = time.monotonic()
    assert second.stop() == 0, second.log()
    assert time.monotonic() - started < 30


def test_sighup_stops_gracefully_and_lets_the_running_action_finish(tmp_path):
    """SIGHUP (the terminal or ssh session of the server closed) killed it on
    the spot: no "stopped", the action cut off, the conductor left online."""
    proc = server_proc.ServerProcess(tmp_path, options={
        "fake": {"power_delay": 1}, "conductor": {"graceful_shutdown_timeout": 30}}).start(
        default_signals=(signal.SIGHUP,))  # as from a terminal, even if the suite runs nohup
    try:
        status, _ = proc.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                    "name": "n1"})
        assert status == 201
        status, _ = proc.call("PUT", "/v1/nodes/n1/states/power", {"target": "power on"})
        assert status == 202
        proc.proc.send_signal(signal.SIGHUP)
        assert proc.proc.wait(60) == 0, proc.log()
    finally:
        proc.kill()
    wait_for(lambda: "hwdrivers-server: stopped" in proc.log(), timeout=10,
             message="the stopped line")
    assert "received signal SIGHUP (1); stopping" in proc.log()
    [node] = proc.db_rows("SELECT power_state, target_power_state, reservation, "
                          "last_error FROM nodes")
    assert node == {"power_state": "power on", "target_power_state": None,
                    "reservation": None, "last_error": None}
    [row] = proc.db_rows("SELECT online FROM conductors")
    assert row["online"] == 0


def test_sighup_ignored_under_nohup_stays_ignored(tmp_path):
    proc = server_proc.ServerProcess(tmp_path)
    real_popen = subprocess.Popen

    def nohup_popen(args, **kwargs):
        return real_popen(["nohup"] + list(args), **kwargs)

    subprocess.Popen = nohup_popen
    try:
        proc.start()
    finally:
        subprocess.Popen = real_popen
    try:
        proc.proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert proc.proc.poll() is None, proc.log()
        assert proc.call("GET", "/v1/nodes")[0] == 200
    finally:
        assert proc.stop() == 0, proc.log()


def test_misspelt_groups_and_options_are_named_at_start(tmp_path):
    """oslo.config ignores what nobody registered: [conductr] or a misspelt
    option silently left the default in force, with nothing in the log."""
    proc = server_proc.ServerProcess(tmp_path, options={
        "conductr": {"workers_pool_size": 3},
        "api": {"auth_stratgy": "http_basic"},
        "hardware_type:ipmii": {"default_power_interface": "ipmitool"},
        "hardware_type:ipmi": {"default_power_interface": "ipmitool"},
        "conductor": {"graceful_shutdown_timeout": 5}}).start()
    try:
        log = proc.log()
    finally:
        assert proc.stop() == 0, proc.log()
    where = str(proc.config_path)
    lines = [line for line in log.splitlines() if "WARNING hwdrivers.cmd.startup" in line]
    assert any("%s: group [conductr] is not a group hwdrivers knows; its options are "
               "ignored; did you mean [conductor]?" % where in line for line in lines), log
    assert any("[api] auth_stratgy is not an option hwdrivers knows; it is ignored; "
               "did you mean auth_strategy?" in line for line in lines), log
    assert any("group [hardware_type:ipmii] is not an enabled hardware type" in line
               and "did you mean [hardware_type:ipmi]?" in line for line in lines), log
    # What is right is not reported.
    assert len(lines) == 3, lines
