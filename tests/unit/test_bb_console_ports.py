"""A console port the conductor may not listen on is blamed on the port, not the host.

An unprivileged conductor cannot listen below 1024: a node whose
ipmi_terminal_port is such a port must be told to change that field (400),
not that ``[console] host`` is not an address of this host. The conductor
of these tests runs as root, so the kernel's refusal is reproduced by the
bind alone (an error path).
"""

import errno
import socket

import pytest

from hwdrivers.common import exception
from hwdrivers.conductor import console_manager


@pytest.fixture
def refused_below_1024(monkeypatch):
    real_bind = socket.socket.bind

    def bind(self, address):
        if 0 < address[1] < 1024:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_bind(self, address)

    monkeypatch.setattr(socket.socket, "bind", bind)


def test_privileged_ipmi_terminal_port_names_the_field(refused_below_1024):
    pool = console_manager.PortPool("127.0.0.1", "20000:20001")
    with pytest.raises(exception.InvalidParameterValue) as info:
        pool.reserve(623, node="db1")
    message = str(info.value)
    assert "ipmi_terminal_port 623" in message and "db1" in message
    assert "[console] host" not in message
    assert not pool.taken


def test_privileged_port_range_names_the_range(refused_below_1024):
    pool = console_manager.PortPool("127.0.0.1", "600:601")
    with pytest.raises(exception.ConfigInvalid) as info:
        pool.reserve()
    assert info.value.option == "[console] port_range"
    assert "port 600" in str(info.value)
