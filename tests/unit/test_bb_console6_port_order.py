"""The console port pool hands out unused ports first, then the least recently used.

The functional test (a real server, restarts included) is
tests/functional/test_bb_console6_port_reuse.py.
"""

import os

from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_manager
from tests.functional import console_env

UUIDS = ["1be26c0b-03f2-4d2d-ae87-c02d7f33c1%02d" % i for i in range(3)]


def _pool(count):
    port_range = console_env.free_port_range(count)
    return console_manager.PortPool("127.0.0.1", port_range), int(port_range.split(":")[0])


def test_released_ports_come_back_least_recently_used_first():
    pool, first = _pool(3)
    socks = [pool.reserve() for _ in range(3)]
    try:
        assert [s.getsockname()[1] for s in socks] == [first, first + 1, first + 2]
        for index in (1, 0):  # freed: the second port, then the first
            socks[index].close()
            pool.release(first + index)
        socks[1] = pool.reserve()
        socks[0] = pool.reserve()
        assert socks[1].getsockname()[1] == first + 1
        assert socks[0].getsockname()[1] == first
    finally:
        for sock in socks:
            sock.close()


def test_ports_files_count_as_used(tmp_path):
    pool, first = _pool(3)
    for uuid, port, when in ((UUIDS[0], first, 1000.0), (UUIDS[1], first + 1, 500.0)):
        path = console_log.port_path(str(tmp_path), uuid)
        console_log.write_port(path, port)
        os.utime(path, (when, when))
    remembered = console_log.remembered_ports(str(tmp_path))
    assert remembered == {first: 1000.0, first + 1: 500.0}
    pool.remember(remembered)
    socks = [pool.reserve() for _ in range(3)]
    try:
        assert [s.getsockname()[1] for s in socks] == [first + 2, first + 1, first]
    finally:
        for sock in socks:
            sock.close()
