"""The console URL names an address clients can reach, never the conductor's name.

``[DEFAULT] host`` is the conductor's identity (``functest-conductor``
here), not an address: with ``[console] host = 0.0.0.0`` the URL named it
and no client could connect. Now the URL names ``[console]
public_address``, or this machine's primary address, and a bad value
stops start-up naming the option.
"""

import pytest

from hwdrivers.conductor import console_manager
from tests.functional import console_env as env
from tests.functional import server_proc
from tests.waits import wait_for


@pytest.fixture
def serial():
    yield from env.serial_line()


def _server(tmp_path, **console):
    options = dict(env.SOCAT_PROFILES,
                   console=dict({"port_range": env.free_port_range(2)}, **console))
    return server_proc.ServerProcess(tmp_path, options=options)


def _console_node(server, serial):
    status, body = server.call("POST", "/v1/nodes", {
        "name": "vm1", "driver": "command", "console_interface": "command",
        "driver_info": {"command_profile": "vmcon", "serial_port": str(serial.port)}})
    assert status == 201, body
    env.enable(server, body["uuid"])
    doc = env.wait_state(server, body["uuid"], ("on", "failed"))
    assert doc["console_state"] == "on", doc
    return doc


def test_wildcard_listener_url_names_this_machines_address(tmp_path, serial):
    import socket
    primary = console_manager._primary_address(socket.AF_INET)
    if primary is None:
        pytest.skip("this machine has no default route")
    server = _server(tmp_path, host="0.0.0.0").start()
    try:
        doc = _console_node(server, serial)
        host, port = env.address(doc)
        assert host == primary, doc
        assert "functest-conductor" not in doc["console_info"]["url"]
        # And a client reaches the console there.
        wait_for(serial.connected.is_set, 30, message="socat connected to the serial line")
        client = env.Client((host, port))
        serial.write(b"login: ")
        client.read_until(b"login: ")
        client.close()
    finally:
        server.stop()


def test_public_address_is_the_url_host(tmp_path, serial):
    server = _server(tmp_path, public_address="consoles.cond-03.example").start()
    try:
        doc = _console_node(server, serial)
        assert doc["console_info"]["url"].startswith("tcp://consoles.cond-03.example:"), doc
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["tcp://10.0.0.5:10000", "0.0.0.0", "cons oles"])
def test_a_bad_public_address_stops_start_up_naming_it(tmp_path, value):
    server = _server(tmp_path, public_address=value)
    with pytest.raises(AssertionError) as failed:
        server.start()
    assert "[console] public_address" in str(failed.value), server.log()[-2000:]


def test_ironic_socat_address_still_sets_where_consoles_are(tmp_path, serial):
    """A config moved from Ironic: [console] socat_address is [console] host."""
    server = _server(tmp_path, socat_address="127.0.0.2").start()
    try:
        doc = _console_node(server, serial)
        host, port = env.address(doc)
        assert host == "127.0.0.2", doc
        wait_for(serial.connected.is_set, 30, message="socat connected to the serial line")
        client = env.Client((host, port))
        serial.write(b"moved from ironic\r\n")
        client.read_until(b"moved from ironic")
        client.close()
    finally:
        server.stop()
