"""The console host's fallbacks: a host that cannot work, a host that died.

Error paths of hwdrivers/conductor/console_host.py, with real processes
(the session is ``cat``): without pidfds the relay starts each supervisor
itself as before, and a host killed is replaced at the next session start.
"""

import errno
import os
import signal
import socket
import subprocess
import types

from hwdrivers.conductor import console_host
from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_relay
from hwdrivers.drivers.modules import console_base
from tests.waits import wait_for

CONF = types.SimpleNamespace(idle_timeout=0, start_timeout=20, restart_limit=2,
                             allowed_clients=[])
COMMAND = console_base.ConsoleCommand(argv=["cat"], env={"PATH": "/usr/bin:/bin"})


def _relay(tmp_path, name):
    log = console_log.ConsoleLog(str(tmp_path / ("%s.log" % name)), 100000, 0)
    relay = console_relay.Relay(name, name, COMMAND, socket.create_server(
        ("127.0.0.1", 0)), log, CONF, lambda r, reason: None)
    relay.start()
    assert relay.wait_outcome(20) == console_relay.ON, relay.reason
    return relay


def _parent(pid):
    with open("/proc/%d/stat" % pid) as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_without_pidfds_supervisors_start_as_before(tmp_path, monkeypatch):
    class NoPidfd:
        calls = 0

        def spawn(self, *args):
            NoPidfd.calls += 1
            raise OSError(errno.ENOSYS, "no pidfd")

    monkeypatch.setattr(console_relay, "_host", NoPidfd())
    monkeypatch.setattr(console_relay, "_use_host", True)
    relays = [_relay(tmp_path, "a"), _relay(tmp_path, "b")]
    try:
        for relay in relays:
            assert isinstance(relay._session.proc, subprocess.Popen)
            assert _parent(relay._session.proc.pid) == os.getpid()
        assert NoPidfd.calls == 1 and console_relay._use_host is False  # tried once
    finally:
        for relay in relays:
            relay.stop()


def test_a_dead_host_is_replaced_at_the_next_start(tmp_path, monkeypatch):
    host = console_host.Host(console_relay._host.reaper_dir)
    monkeypatch.setattr(console_relay, "_host", host)
    monkeypatch.setattr(console_relay, "_use_host", True)
    first = _relay(tmp_path, "first")
    second = None
    try:
        supervisor = first._session.proc.pid
        old_host = _parent(supervisor)
        assert getattr(first._session.proc, "hosted", False)
        os.kill(old_host, signal.SIGKILL)
        # Its supervisor follows it (PDEATHSIG), the session ends, and the
        # relay's restart gets a supervisor from a new host.
        wait_for(lambda: first.restarts >= 1 and first.state == console_relay.ON
                 and first._session is not None
                 and first._session.proc.pid != supervisor, 20, interval=0.05,
                 message="the session came back")
        second = _relay(tmp_path, "second")
        hosts = {_parent(r._session.proc.pid) for r in (first, second)}
        assert len(hosts) == 1 and old_host not in hosts, hosts
        assert all(getattr(r._session.proc, "hosted", False) for r in (first, second))
        assert console_relay._use_host is True
    finally:
        first.stop()
        if second is not None:
            second.stop()
