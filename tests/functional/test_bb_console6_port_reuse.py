"""A freed console port goes to the next node last, not first.

Ports went lowest first: node A's console disabled (or its node put aside)
gave its port to the very next node enabled, and A's users reconnecting to
the URL they had (``socat`` in a loop, a bookmark, a dashboard tab) typed
on B's machine. A console without a port of its own now gets a port no
console has used, and only when none is left the one freed longest ago;
what the ports files say consoles had before a restart counts too.
"""

import pytest

from tests.functional import console_env as env
from tests.functional import server_proc


@pytest.fixture
def serials():
    lines = [env.serial_line() for _ in range(4)]
    yield [next(line) for line in lines]
    for line in lines:
        next(line, None)


def _server(tmp_path, port_range, name):
    options = dict(env.SOCAT_PROFILES, console={"port_range": port_range})
    return server_proc.ServerProcess(tmp_path, options=options, name=name).start()


def _off(server, node):
    env.enable(server, node, False)
    assert env.wait_state(server, node, ("off", "failed"))["console_state"] == "off"


def test_freed_port_is_handed_out_last(tmp_path, serials):
    port_range = env.free_port_range(3)
    first_port = int(port_range.split(":")[0])
    server = _server(tmp_path, port_range, "life1")
    try:
        a, b, c, d = (env.create_serial_node(server, name, serial)
                      for name, serial in zip("abcd", serials))
        env.enable(server, a)
        assert env.console_port(server, a) == first_port
        _off(server, a)
        env.enable(server, b)  # not A's port, freed a moment ago
        assert env.console_port(server, b) == first_port + 1
        _off(server, b)
    finally:
        assert server.stop() == 0, server.log()
    # After a restart, what the ports files remember counts: C gets the port
    # nobody had, D then A's (used longest ago) before B's.
    server = _server(tmp_path, port_range, "life2")
    try:
        env.enable(server, c)
        assert env.console_port(server, c) == first_port + 2
        env.enable(server, d)
        assert env.console_port(server, d) == first_port
    finally:
        assert server.stop() == 0, server.log()
