"""The ``command`` console: a command profile's console command behind the proxy.

The profile's console is ``socat - TCP:127.0.0.1:{serial_port}``, as for a
qemu ``-serial tcp:...,server`` or a terminal server; the test owns that TCP
port and plays the machine's serial line (the fixture ipmi_sim uses for
its SOL), so what the machine prints arrives at the console's client and
log and what the client types arrives at the machine.
"""


import socket

import pytest

from tests.functional import console_env as env
from tests.functional import server_proc
from tests.waits import wait_for

SECRET = "c0nsole-Secret"


@pytest.fixture
def server(tmp_path):
    with env.socat_server(tmp_path) as proc:
        yield proc


def _node(server, name, profile, **info):
    status, body = server.call("POST", "/v1/nodes", {
        "name": name, "driver": "command", "console_interface": "command",
        "driver_info": dict({"command_profile": profile}, **info)})
    assert status == 201, body
    return body["uuid"]


def test_command_console_round_trip_and_secret_scrubbing(server, serial):
    node = _node(server, "vm1", "vmcon", serial_port=str(serial.port),
                 command_secret=SECRET)
    env.enable(server, node)
    doc = env.wait_state(server, node, ("on", "failed"))
    assert doc["console_state"] == "on", doc
    wait_for(serial.connected.is_set, 30, message="socat connected to the serial line")
    client = env.Client(env.address(doc))
    serial.write(b"vm1 login: ")
    client.read_until(b"vm1 login: ")
    client.send(b"root\r")
    wait_for(lambda: b"root\r" in serial.received(), 30, message="typing at the machine")
    # Whatever prints the node's secret, it never reaches a client or the log.
    serial.write(b"leak: " + SECRET.encode() + b" end\r\n")
    text = client.read_until(b" end\r\n")
    assert SECRET.encode() not in text and b"leak: ****** end" in text
    client.close()
    status, body = server.call("GET", "/v1/nodes/vm1/states/console/log?kib=4")
    assert "vm1 login: " in body["log"] and "leak: ****** end" in body["log"]
    assert SECRET not in body["log"] and SECRET not in server.log()
    env.enable(server, node, False)
    env.wait_state(server, node, "off")
    wait_for(lambda: not env.processes_with("TCP:127.0.0.1:%d" % serial.port), 30,
             message="socat gone")


def test_deleting_a_node_stops_its_console_at_once(server, serial):
    """As Ironic: not at the console manager's next sync, 30 s later."""
    node = _node(server, "vmdel", "vmcon", serial_port=str(serial.port))
    env.enable(server, node)
    doc = env.wait_state(server, node, ("on", "failed"))
    assert doc["console_state"] == "on", doc
    wait_for(serial.connected.is_set, 30, message="socat connected to the serial line")
    host, port = env.address(doc)
    status, _ = server.call("DELETE", "/v1/nodes/vmdel")
    assert status == 204
    wait_for(lambda: not env.processes_with("TCP:127.0.0.1:%d" % serial.port), 10,
             message="the console command stopped with its node")
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=2).close()


def test_profile_without_console_is_a_clear_400(server):
    _node(server, "vm2", "noconsole")
    status, body = server.call("PUT", "/v1/nodes/vm2/states/console", {"enabled": True})
    assert status == 400, body
    assert "command profile noconsole has no console command" in body["error_message"]
    assert env.console_doc(server, "vm2")["console_state"] == "off"


def test_console_command_that_fails_shows_why(server):
    dead = server_proc.free_tcp_port()  # nothing listens: socat exits at once
    node = _node(server, "vm3", "vmcon", serial_port=str(dead))
    env.enable(server, node)
    doc = env.wait_state(server, node, ("on", "failed"))
    assert doc["console_state"] == "failed", doc
    assert "Connection refused" in doc["console_error"], doc
    assert doc["console_enabled"] is False
    assert not env.processes_with("TCP:127.0.0.1:%d" % dead)


def test_fake_console_through_the_manager(server):
    status, body = server.call("POST", "/v1/nodes", {
        "name": "fake1", "driver": "fake-hardware", "console_interface": "fake"})
    assert status == 201, body
    env.enable(server, "fake1")
    doc = env.wait_state(server, "fake1", ("on", "failed"))
    assert doc["console_enabled"] is True
    assert doc["console_info"] == {"type": "fake", "url": "fake://%s" % body["uuid"]}
    env.enable(server, "fake1", False)
    doc = env.wait_state(server, "fake1", "off")
    assert doc["console_enabled"] is False and doc["console_info"] is None


def test_the_console_interface_cannot_change_while_the_console_is_on(server):
    """Switched while on, the new interface could not stop the old console."""
    status, body = server.call("POST", "/v1/nodes", {
        "name": "fake2", "driver": "fake-hardware", "console_interface": "fake"})
    assert status == 201, body
    env.enable(server, "fake2")
    env.wait_state(server, "fake2", "on")
    status, body = server.call("PATCH", "/v1/nodes/fake2", [
        {"op": "replace", "path": "/console_interface", "value": "no-console"}])
    assert status == 400, body
    assert "console is enabled; disable it first" in body["error_message"]
    shown = server.call("GET", "/v1/nodes/fake2")[1]
    assert shown["console_interface"] == "fake" and shown["console_enabled"] is True
    env.enable(server, "fake2", False)
    env.wait_state(server, "fake2", "off")
    status, body = server.call("PATCH", "/v1/nodes/fake2", [
        {"op": "replace", "path": "/console_interface", "value": "no-console"}])
    assert status == 200 and body["console_interface"] == "no-console", body


def test_clients_outside_allowed_clients_are_refused(tmp_path, serial):
    options = dict(env.SOCAT_PROFILES, console={"port_range": env.free_port_range(1),
                                                 "allowed_clients": "10.9.9.0/24"})
    server = server_proc.ServerProcess(tmp_path, options=options, name="restricted").start()
    try:
        node = _node(server, "vm4", "vmcon", serial_port=str(serial.port))
        env.enable(server, node)
        doc = env.wait_state(server, node, ("on", "failed"))
        assert doc["console_state"] == "on", doc
        refused = env.Client(env.address(doc)).read_to_end()
        assert b"clients from 127.0.0.1 may not use consoles here" in refused
        wait_for(lambda: "not in [console] allowed_clients" in server.log(), 10,
                 message="the refusal in the server log")
    finally:
        server.stop()
