"""A slow ``sol deactivate`` before a restart no longer freezes the console's relay.

The relay ran its session's cleanup (``ipmitool sol deactivate``) as a call
on its own select loop: against a BMC that answers slowly or not at all it
took seconds (up to ``[console] start_timeout``), during which the
connected client got nothing, a new client was not answered and stop()
waited. Here the cleanup is a real ``ipmitool`` against a BMC address that
never answers (20 s of retries) and the session a real ``socat`` to the
machine's serial line.
"""

import shutil
import socket
import time
import types

import pytest

from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_relay
from hwdrivers.drivers.modules import console_base
from tests.functional import console_env
from tests.waits import wait_for


def test_clients_are_answered_and_stop_is_prompt_during_a_slow_cleanup(tmp_path):
    for tool in ("ipmitool", "socat"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed" % tool)
    silent_bmc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # never answers
    silent_bmc.bind(("127.0.0.1", 0))
    bmc_port = silent_bmc.getsockname()[1]
    line = console_env.TcpLine()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "IPMI_PASSWORD": "s3cret-pw"}
    plain = console_base.ConsoleCommand(
        argv=["socat", "-", "TCP:127.0.0.1:%d" % line.port], env=env)
    # What the restart reads from the node: the same session, its cleanup
    # now against a BMC that does not answer.
    slow = console_base.ConsoleCommand(
        argv=plain.argv, env=env, secrets=("s3cret-pw",),
        before=[["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(bmc_port),
                 "-U", "admin", "-E", "-N", "10", "-R", "1", "sol", "deactivate"]])
    conf = types.SimpleNamespace(idle_timeout=0, start_timeout=60, restart_limit=3,
                                 allowed_clients=[])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    log = console_log.ConsoleLog(str(tmp_path / "console.log"), 100000, 0)
    relay = console_relay.Relay("node-uuid", "node", plain, listener, log, conf,
                                lambda r, reason: None, refresh=lambda: slow)
    relay.start()
    first = second = None
    try:
        assert relay.wait_outcome(30) == console_relay.ON
        first = console_env.Client(("127.0.0.1", port))
        wait_for(lambda: relay.client_address is not None, 10, interval=0.05,
                 message="the first client was accepted")
        line.hang_up()  # the session ends; its restart begins with the cleanup
        first.read_until(b"restarting in", timeout=10)
        wait_for(lambda: console_env.processes_with("-p", str(bmc_port), "deactivate"),
                 10, interval=0.05, message="the restart's sol deactivate runs")
        # The cleanup has ~20 s to go: a second client is answered anyway.
        second = console_env.Client(("127.0.0.1", port))
        second.read_until(b"one client at a time", timeout=10)
        began = time.monotonic()
        relay.stop()
        stopped_in = time.monotonic() - began
        assert not relay.is_alive()
        assert stopped_in < 8, stopped_in  # the cleanup alone had ~15 s left
        assert not console_env.processes_with("-p", str(bmc_port), "deactivate")
    finally:
        relay.stop()
        for client in (first, second):
            if client is not None:
                client.close()
        line.cut()
        silent_bmc.close()
