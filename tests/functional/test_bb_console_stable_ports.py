"""A console keeps its port across a conductor restart and a disable/enable.

Ports were handed out lowest first, and a restart restores consoles in node
order: two consoles enabled in the other order swapped ports, and a client
reconnecting to the URL it had (``socat ... TCP:host:PORT`` in a loop, a
bookmark) typed on the other machine.
"""

import pytest

from tests.functional import console_env as env
from tests.functional import server_proc


@pytest.fixture
def serials():
    lines = [env.serial_line(), env.serial_line()]
    yield [next(line) for line in lines]
    for line in lines:
        next(line, None)


def _server(tmp_path, port_range):
    options = dict(env.SOCAT_PROFILES, console={"port_range": port_range})
    return server_proc.ServerProcess(tmp_path, options=options).start()


def test_ports_survive_restart_and_reenable(tmp_path, serials):
    port_range = env.free_port_range(3)
    server = _server(tmp_path, port_range)
    try:
        first = env.create_serial_node(server, "first", serials[0])
        second = env.create_serial_node(server, "second", serials[1])
        env.enable(server, second)  # enabled in the other order than the nodes'
        ports = {second: env.console_port(server, second)}
        env.enable(server, first)
        ports[first] = env.console_port(server, first)
    finally:
        server.stop()
    server = _server(tmp_path, port_range)
    try:
        assert {n: env.console_port(server, n) for n in ports} == ports
        # Disabled and enabled again while the other is on: its own port again.
        env.enable(server, second, False)
        env.wait_state(server, second, ("off", "failed"))
        env.enable(server, second)
        assert env.console_port(server, second) == ports[second]
    finally:
        server.stop()
