"""The console pieces that need no BMC: log rotation, secret scrubbing, escapes, ports."""

import socket

import pytest

from hwdrivers.common import exception
from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_manager
from hwdrivers.conductor import console_relay
from hwdrivers.conf import console as console_conf
from hwdrivers.drivers.modules import console_base
from tests.functional import console_env

UUID = "1be26c0b-03f2-4d2d-ae87-c02d7f33c123"


def test_log_rotates_at_the_cap_and_tail_spans_the_files(tmp_path):
    path = console_log.log_path(str(tmp_path), UUID)
    log = console_log.ConsoleLog(path, max_bytes=100, backups=2)
    data = b"".join(b"line %03d\n" % i for i in range(60))  # 540 bytes
    for start in range(0, len(data), 7):
        log.write(data[start:start + 7])
    log.close()
    sizes = [len(open(p, "rb").read()) for p in (path, path + ".1", path + ".2")]
    assert all(size <= 100 for size in sizes) and sizes[1] == sizes[2] == 100
    assert not (tmp_path / "console" / (UUID + ".log.3")).exists()
    kept = sizes[0] + 200
    assert console_log.tail(path, 10_000, 2) == data[-kept:]
    assert console_log.tail(path, 150, 2) == data[-150:]
    assert (tmp_path / "console").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "console" / (UUID + ".log")).stat().st_mode & 0o777 == 0o600


def test_log_without_backups_keeps_only_the_last_file(tmp_path):
    path = console_log.log_path(str(tmp_path), UUID)
    log = console_log.ConsoleLog(path, max_bytes=50, backups=0)
    log.write(b"a" * 120 + b"end")
    log.close()
    assert open(path, "rb").read() == b"a" * 20 + b"end"
    assert console_log.tail(path, 1000, 0) == b"a" * 20 + b"end"
    assert console_log.tail(path + "-missing", 10, 1) == b""


def test_log_path_takes_only_uuids(tmp_path):
    with pytest.raises(ValueError):
        console_log.log_path(str(tmp_path), "../../etc/passwd")


def test_redactor_cuts_secrets_split_across_reads():
    redactor = console_relay.Redactor(["hunter22", "pw"])
    out = redactor.feed(b"password: hun") + redactor.feed(b"ter22 ok, p")
    assert b"hunter22" not in out and b"hun" not in out
    out += redactor.feed(b"w!") + redactor.flush()
    assert out == b"password: ****** ok, ******!"
    # A prefix that never becomes the secret is released by flush.
    assert redactor.feed(b"hunt") == b"" and redactor.flush() == b"hunt"
    assert console_relay.Redactor([]).feed(b"as is") == b"as is"


def test_escape_is_doubled_only_after_a_newline():
    data, line_start = console_relay.double_escape(b"~.a~b\r~.\n~", b"~", True)
    assert data == b"~~.a~b\r~~.\n~~" and line_start is False
    assert console_relay.double_escape(b"~.", None, True) == (b"~.", True)


def test_allowed_clients():
    import ipaddress
    nets = [ipaddress.ip_network("10.1.0.0/24"), ipaddress.ip_network("::1/128")]
    assert console_relay.allowed("10.1.0.7", nets)
    assert console_relay.allowed("::ffff:10.1.0.7", nets)
    assert console_relay.allowed("::1", nets)
    assert not console_relay.allowed("10.2.0.7", nets)
    assert console_relay.allowed("192.0.2.1", [])


def test_port_pool_skips_busy_ports_and_says_when_exhausted():
    # Two ports free right now (the second was once assumed free, and another
    # test's server in a parallel worker sometimes had it).
    first = int(console_env.free_port_range(2).split(":")[0])
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", first))  # another program holds the first port
        busy.listen(1)
        pool = console_manager.PortPool("127.0.0.1", "%d:%d" % (first, first + 1))
        sock = pool.reserve()
        assert sock.getsockname()[1] == first + 1
        with pytest.raises(console_manager.ConsolePortsExhausted) as error:
            pool.reserve()
        assert error.value.code == 503
        message = str(error.value)
        assert "port_range %d:%d" % (first, first + 1) in message
        assert "1 by this conductor's consoles, 1 by other programs" in message
        sock.close()
        pool.release(first + 1)
        again = pool.reserve()
        assert again.getsockname()[1] == first + 1
        again.close()
    finally:
        busy.close()


@pytest.mark.parametrize("value", ["10000", "20:10", "0:10", "a:b", "1:70000"])
def test_port_range_option_refuses_bad_values(value):
    with pytest.raises(ValueError):
        console_conf.PortRange()(value)
    assert console_conf.PortRange()(" 10:20 ") == "10:20"


def test_no_runner_outside_the_service():
    class Task:
        class node:
            uuid = UUID

    console_base.set_runner(None)
    with pytest.raises(exception.UnsupportedDriverExtension) as error:
        console_base.get_runner(Task, console_base.ProxiedConsole())
    assert "hwdrivers-server" in str(error.value)


@pytest.mark.parametrize("options, option", [
    ({"console__allowed_clients": ["10.0.0.0/33"]}, "[console] allowed_clients"),
    ({"console__host": "192.0.2.77"}, "[console] host"),  # TEST-NET: not on this host
])
def test_unusable_console_settings_stop_start_up(config, options, option):
    config(**options)
    manager = console_manager.ConsoleManager()
    with pytest.raises(exception.ConfigInvalid) as error:
        manager.start()
    assert error.value.option == option
    assert option.split()[1] in str(error.value)
    assert not manager.started


class _FakeRelay:
    """Stands for a running relay: what sync() looks at and calls."""

    def __init__(self, node, state=console_relay.ON):
        self.node = node
        self.state = state
        self.port_number = 1
        self.client_address = None
        self.stopped = False

    def stop(self):
        self.stopped = True


def test_sync_stops_proxies_of_deleted_and_disabled_nodes(sqlite_database):
    from hwdrivers.db import api as db_api
    on = db_api.create_node({"driver": "fake-hardware", "console_enabled": True})
    off = db_api.create_node({"driver": "fake-hardware", "console_enabled": False})
    gone = db_api.create_node({"driver": "fake-hardware", "console_enabled": True})
    starting = db_api.create_node({"driver": "fake-hardware"})
    db_api.destroy_node(gone["id"])
    manager = console_manager.ConsoleManager()
    relays = {n["uuid"]: _FakeRelay(n["uuid"]) for n in (on, off, gone)}
    relays[starting["uuid"]] = _FakeRelay(starting["uuid"], console_relay.STARTING)
    manager._relays.update(relays)
    manager.sync()
    assert {u for u, r in relays.items() if r.stopped} == {off["uuid"], gone["uuid"]}
    assert set(manager.proxies()) == {on["uuid"], starting["uuid"]}


def test_with_several_conductors_sync_hands_consoles_over(sqlite_database, monkeypatch):
    """owns(node) (the hash ring) decides: others' proxies stop, ours start."""
    from hwdrivers.db import api as db_api
    mine = db_api.create_node({"driver": "fake-hardware", "name": "mine",
                               "console_enabled": True})
    moved = db_api.create_node({"driver": "fake-hardware", "name": "moved",
                                "console_enabled": True})
    theirs = db_api.create_node({"driver": "fake-hardware", "name": "theirs",
                                 "console_enabled": True})
    manager = console_manager.ConsoleManager(owns=lambda node: node.name != "theirs")
    running = {moved["uuid"]: _FakeRelay(moved["uuid"]),
               theirs["uuid"]: _FakeRelay(theirs["uuid"])}
    manager._relays.update(running)
    started = []
    monkeypatch.setattr(manager, "_restore_one", started.append)
    manager.sync()
    assert running[theirs["uuid"]].stopped and not running[moved["uuid"]].stopped
    assert started == [mine["uuid"]]  # enabled, ours, not served yet
    assert set(manager.proxies()) == {moved["uuid"]}
