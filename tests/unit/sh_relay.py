"""A real console relay whose session is ``/bin/sh -c SCRIPT`` on its
pseudo-terminal, listening on 127.0.0.1: the relay's own behaviour (escape,
input, clients, closing) tested without a BMC."""

import os
import socket
import types

from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_relay
from hwdrivers.drivers.modules import console_base
from tests.waits import wait_for

ENV = {"PATH": "/bin:/usr/bin"}


def start(tmp_path, script, escape=None, restart_limit=3, backlog=2):
    """A started relay, its session ready (the script printed ``READY``)."""
    conf = types.SimpleNamespace(idle_timeout=0, start_timeout=10,
                                 restart_limit=restart_limit, allowed_clients=[])
    command = console_base.ConsoleCommand(argv=["/bin/sh", "-c", script], env=ENV,
                                          ready_marker=b"READY", escape=escape)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(backlog)
    log = console_log.ConsoleLog(str(tmp_path / "console.log"), 1 << 20, 0)
    relay = console_relay.Relay("node-uuid", "node", command, listener, log, conf,
                                None, None)
    relay.start()
    assert relay.wait_outcome(10) == console_relay.ON
    return relay


def connect(relay):
    """A client, once the relay has accepted it."""
    client = socket.create_connection(("127.0.0.1", relay.port_number), timeout=10)
    wait_for(lambda: relay.client_address is not None, 5, message="client accepted")
    return client


def size(path):
    """The size of ``path``, 0 while it does not exist."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
