"""``hwdrivers node console ...`` against a real hwdrivers-server.

The console is a command profile's ``socat - TCP:...`` to a serial line the
test plays (as in test_console_command.py). ``connect`` runs in a
pseudo-terminal, as an operator would use it: what the machine prints
appears on the terminal, what is typed reaches the machine, ``~.`` leaves.
"""

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.functional import console_env as env
from tests.waits import wait_for

HWDRIVERS = os.path.join(os.path.dirname(sys.executable), "hwdrivers")


@pytest.fixture
def server(tmp_path):
    with env.socat_server(tmp_path) as proc:
        yield proc


def _cli(server, tmp_path, *args, url=True, check=True):
    env_vars = {k: v for k, v in os.environ.items() if not k.startswith("HWDRIVERS_")}
    env_vars["HWDRIVERS_STATE_PATH"] = str(tmp_path / "cli-state")
    if url:
        env_vars["HWDRIVERS_URL"] = server.url
    proc = subprocess.run([HWDRIVERS, *args], env=env_vars, capture_output=True,
                          timeout=120)
    if check:
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return proc


class _Terminal:
    """``hwdrivers node console connect`` in a pseudo-terminal."""

    def __init__(self, server, node):
        env_vars = dict(os.environ, HWDRIVERS_URL=server.url)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(HWDRIVERS, [HWDRIVERS, "node", "console", "connect", node], env_vars)
        self.output = b""

    def read_until(self, marker, timeout=30):
        deadline = time.monotonic() + timeout
        while marker not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("terminal never showed %r: %r" % (marker, self.output))
            if select.select([self.fd], [], [], remaining)[0]:
                try:
                    self.output += os.read(self.fd, 4096)
                except OSError:
                    raise AssertionError("terminal closed before %r: %r"
                                         % (marker, self.output)) from None
        return self.output

    def type(self, data):
        os.write(self.fd, data)

    def wait(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:
                if select.select([self.fd], [], [], 0.1)[0]:
                    self.output += os.read(self.fd, 4096)
            except OSError:
                pass
        raise AssertionError("connect did not exit: %r" % self.output)


def test_console_commands(server, serial, tmp_path):
    status, body = server.call("POST", "/v1/nodes", {
        "name": "cli-vm", "driver": "command", "console_interface": "command",
        "driver_info": {"command_profile": "vmcon", "serial_port": str(serial.port)}})
    assert status == 201, body

    shown = json.loads(_cli(server, tmp_path, "node", "console", "show", "cli-vm",
                            "-f", "json").stdout)
    assert shown == {"console_enabled": False, "console_state": "off", "url": None,
                     "console_error": None}
    enabled = json.loads(_cli(server, tmp_path, "node", "console", "enable", "cli-vm",
                              "-f", "json").stdout)
    assert enabled["console_state"] == "on" and enabled["url"].startswith("tcp://127.0.0.1:")
    wait_for(serial.connected.is_set, 30, message="the console command reached the line")

    term = _Terminal(server, "cli-vm")
    term.read_until(b"~. at the start of a line leaves")
    serial.write(b"cli-vm login: ")
    term.read_until(b"cli-vm login: ")
    term.type(b"admin\r")
    wait_for(lambda: b"admin\r" in serial.received(), 30, message="typed at the machine")
    term.type(b"~~x\r")  # ~~ sends one ~
    wait_for(lambda: b"~x\r" in serial.received(), 30, message="'~x' at the machine")
    term.type(b"~.")
    assert term.wait() == 0
    assert b"closed" in term.output
    assert env.console_doc(server, "cli-vm")["console_state"] == "on"  # still on

    serial.write(b"kernel panic - not syncing\r\n")
    wait_for(lambda: b"kernel panic" in _cli(server, tmp_path, "node", "console", "log",
                                             "cli-vm").stdout, 30, message="log")
    logged = _cli(server, tmp_path, "node", "console", "log", "cli-vm", "--kib", "1").stdout
    assert logged.endswith(b"kernel panic - not syncing\r\n") and len(logged) <= 1024

    disabled = json.loads(_cli(server, tmp_path, "node", "console", "disable", "cli-vm",
                               "-f", "json").stdout)
    assert disabled["console_state"] == "off" and disabled["console_enabled"] is False


def test_console_commands_need_the_server(server, tmp_path):
    proc = _cli(server, tmp_path, "node", "console", "enable", "whatever", url=False,
                check=False)
    assert proc.returncode == 1
    assert b"needs hwdrivers-server" in proc.stderr and b"HWDRIVERS_URL" in proc.stderr
    proc = _cli(server, tmp_path, "node", "console", "connect", "nope", check=False)
    assert proc.returncode == 1 and b"nope" in proc.stderr
