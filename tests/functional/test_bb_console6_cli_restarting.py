"""``hwdrivers node console connect`` attaches to a console whose session is restarting.

After a BMC reset (or while a restored console waits for its BMC) the
console is enabled, its port takes clients and tells them the session is
restarting, and that reboot is what an operator wants to watch; ``connect``
refused it with "the console is restarting; enable it first".
"""

import os
import pty
import select
import shutil
import sys
import time

import pytest

from tests.functional import console_env as env
from tests.waits import wait_for

HWDRIVERS = os.path.join(os.path.dirname(sys.executable), "hwdrivers")


@pytest.fixture
def serial():
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (Debian: apt install socat)")
    line = env.TcpLine()
    yield line
    line.cut()


def _terminal_output(server, node, until, timeout=30):
    """Run ``connect`` in a pseudo-terminal until ``until`` shows; (output, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(HWDRIVERS, [HWDRIVERS, "node", "console", "connect", node],
                  dict(os.environ, HWDRIVERS_URL=server.url))
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while until not in output and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    output += os.read(fd, 4096)
                except OSError:
                    break
            if os.waitpid(pid, os.WNOHANG)[0]:
                pid = None
                break
        if pid is not None:
            os.write(fd, b"\r~.")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not os.waitpid(pid, os.WNOHANG)[0]:
                try:
                    if select.select([fd], [], [], 0.1)[0]:
                        output += os.read(fd, 4096)
                except OSError:
                    pass
            else:
                if time.monotonic() >= deadline:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return output


def test_connect_attaches_while_the_session_restarts(tmp_path, serial):
    with env.socat_server(tmp_path) as server:
        env.create_serial_node(server, "rst-vm", serial)
        env.enable(server, "rst-vm")
        assert env.wait_state(server, "rst-vm", ("on", "failed"))["console_state"] == "on"
        wait_for(lambda: serial.conns, 30, message="socat reached the line")
        serial.cut()  # the machine's line goes away: the session restarts, in vain
        doc = env.wait_state(server, "rst-vm", ("restarting",))
        assert doc["console_enabled"] is True and doc["console_info"], doc
        output = _terminal_output(server, "rst-vm",
                                  b"the console session is restarting")
        assert b"enable it first" not in output, output
        assert b"Connected to the console of rst-vm" in output, output
        assert b"[hwdrivers: the console session is restarting]" in output, output
