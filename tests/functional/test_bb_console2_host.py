"""Console supervisors are forked by one console host, and still leave nothing behind.

Each console session's supervisor (the reaper) was a fresh ``python -I -S``
of its own, ~3.5 MB of private memory each for a process that only waits:
3.5 GB for 1,000 consoles. They are now forked by one host process per
conductor (hwdrivers/conductor/console_host.py), ~0.9 MB each
(benchmarks/console_memory.py has the figures). What must not change:
a supervisor killed leaves no program behind and its console comes back;
the server killed (SIGKILL) leaves no host, supervisor or program.
"""

import os
import signal

import pytest

from tests.functional import console_env as env
from tests.functional import server_proc
from tests.waits import wait_for


@pytest.fixture
def serials():
    lines = [env.serial_line(), env.serial_line()]
    yield [next(line) for line in lines]
    for line in lines:
        next(line, None)


def _parent(pid):
    with open("/proc/%d/stat" % pid) as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        return handle.read().replace(b"\0", b" ").decode(errors="replace")


def _chain(pid, top):
    """``pid``'s ancestors from ``top`` down to it."""
    chain = [pid]
    while chain[-1] not in (top, 0, 1):
        chain.append(_parent(chain[-1]))
    assert chain[-1] == top, "%d does not descend from the server %d" % (pid, top)
    return chain[::-1]


def _sessions(serial):
    """The console programs (socat) connected to ``serial``, by pid."""
    return [pid for pid in env.processes_with("-", "TCP:127.0.0.1:%d" % serial.port)
            if env._exe_name(pid) == "socat"]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_supervisors_share_one_host_and_leave_nothing(tmp_path, serials):
    options = dict(env.SOCAT_PROFILES, console={"port_range": env.free_port_range(3)})
    server = server_proc.ServerProcess(tmp_path, options=options).start()
    host = None
    try:
        nodes = []
        for n, serial in enumerate(serials):
            status, body = server.call("POST", "/v1/nodes", {
                "name": "vm%d" % n, "driver": "command", "console_interface": "command",
                "driver_info": {"command_profile": "vmcon",
                                "serial_port": str(serial.port)}})
            assert status == 201, body
            nodes.append(body["uuid"])
            env.enable(server, body["uuid"])
        for node in nodes:
            assert env.wait_state(server, node, ("on", "failed"))["console_state"] == "on"
        programs = [wait_for(lambda s=s: _sessions(s), 10, message="socat runs")[0]
                    for s in serials]
        chains = [_chain(pid, server.proc.pid) for pid in programs]
        # server -> console host -> supervisor -> sh -> socat, for both consoles
        hosts = {chain[1] for chain in chains}
        assert len(hosts) == 1, chains
        host = hosts.pop()
        assert "console_host.py" in _cmdline(host), _cmdline(host)
        supervisors = [chain[2] for chain in chains]

        # A supervisor killed: the host kills what it left, the console comes back.
        os.kill(supervisors[0], signal.SIGKILL)
        wait_for(lambda: not _alive(programs[0]), 15, interval=0.05,
                 message="the killed supervisor's socat is killed")
        wait_for(lambda: [p for p in _sessions(serials[0]) if p != programs[0]], 30,
                 interval=0.1, message="the console's session started again")
        assert env.wait_state(server, nodes[0], ("on", "failed"))["console_state"] == "on"
        assert _alive(programs[1])  # the other console was not disturbed
        alive = [host, supervisors[1], programs[1]] + [
            p for p in _chain(_sessions(serials[0])[0], server.proc.pid)[1:]]
    finally:
        server.kill()
    if host is not None:
        wait_for(lambda: not [p for p in alive if _alive(p)], 20, interval=0.1,
                 message="no host, supervisor or session outlives the killed server")
