"""The ipmitool-socat console against OpenIPMI's ipmi_sim, through a real hwdrivers-server.

The test plays the machine at the serial port ipmi_sim's SOL is wired to
(tests/fixtures/ipmi_sim.py) and the operator at the console's TCP port:
what the machine prints arrives at the client and in the console log,
what the client types arrives at the machine.
"""

import socket
import time

import pytest

from tests.fixtures import ipmi_sim as sim_fixture
from tests.functional import console_env as env
from tests.functional import server_proc
from tests.waits import wait_for


@pytest.fixture
def server(tmp_path):
    proc = env.console_server(tmp_path, idle_timeout=600).start()
    yield proc
    proc.stop()


def _log(server, node, kib=64):
    status, body = server.call("GET", "/v1/nodes/%s/states/console/log?kib=%d" % (node, kib))
    assert status == 200, body
    return body["log"]


def test_sol_round_trip_one_client_and_log(server, sim, tmp_path):
    node = env.create_ipmi_node(server, "sol-node", sim.driver_info())
    doc = env.console_doc(server, node)
    assert doc["console_enabled"] is False and doc["console_info"] is None

    env.enable(server, node)
    doc = env.wait_state(server, node, ("on", "failed"))
    assert doc["console_state"] == "on", doc
    assert doc["console_enabled"] is True and doc["console_error"] is None
    assert doc["console_info"]["type"] == "socat"
    host, port = env.address(doc)
    assert host == "127.0.0.1"
    status, states = server.call("GET", "/v1/nodes/%s/states" % node)
    assert states["console_enabled"] is True
    # The password went through the environment: no process shows it.
    for pid in env.sol_processes(sim.port):
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            assert sim.password.encode() not in handle.read()
    # Nor the console host or the supervisors it forked, command line or
    # environment (only ipmitool's own environment holds it).
    hosted = [pid for pid in env.console_processes(sim.port)
              if pid not in env.sol_processes(sim.port)]
    assert hosted
    for pid in hosted:
        for name in ("cmdline", "environ"):
            with open("/proc/%d/%s" % (pid, name), "rb") as handle:
                assert sim.password.encode() not in handle.read(), (pid, name)

    # Nobody connected: what the machine prints still reaches the log.
    sim.serial.write(b"BIOS POST ok\r\nbooting kernel...\r\n")
    wait_for(lambda: "booting kernel..." in _log(server, node), 30,
             message="machine output in the console log")

    client = env.Client((host, port))
    sim.serial.write(b"login: ")
    client.read_until(b"login: ")
    client.send(b"root\r")
    wait_for(lambda: b"root\r" in sim.serial.received(), 30,
             message="typed text at the machine")
    # ipmitool's escape, typed at the start of a line, reaches the machine
    # instead of ending the session.
    client.send(b"\r~.\r")
    wait_for(lambda: b"\r~.\r" in sim.serial.received(), 30,
             message="'~.' at the machine")
    sim.serial.write(b"still here\r\n")
    client.read_until(b"still here")

    # A second client is refused, saying who holds the console; the first goes on.
    second = env.Client((host, port))
    refused = second.read_to_end()
    assert b"in use by 127.0.0.1:" in refused and b"one client at a time" in refused
    second.close()
    sim.serial.write(b"first client undisturbed\r\n")
    client.read_until(b"first client undisturbed")
    client.send(b"echo ok\r")
    wait_for(lambda: b"echo ok\r" in sim.serial.received(), 30, message="typing after")

    log = _log(server, node)
    assert "BIOS POST ok" in log and "first client undisturbed" in log
    assert sim.password not in log
    assert sim.password not in server.log()

    env.enable(server, node, False)
    doc = env.wait_state(server, node, "off")
    assert doc["console_enabled"] is False and doc["console_info"] is None
    client.read_to_end()  # the proxy closed the connection
    wait_for(lambda: not env.sol_processes(sim.port), 30, message="ipmitool gone")
    with pytest.raises(OSError):
        env.Client((host, port), timeout=5)


def test_idle_client_is_disconnected_console_goes_on(tmp_path, sim):
    server = env.console_server(tmp_path, idle_timeout=2).start()
    try:
        node = env.create_ipmi_node(server, "idle-node", sim.driver_info())
        env.enable(server, node)
        doc = env.wait_state(server, node, ("on", "failed"))
        assert doc["console_state"] == "on", doc
        client = env.Client(env.address(doc))
        started = time.monotonic()
        text = client.read_to_end(timeout=60)
        assert b"idle_timeout" in text
        assert time.monotonic() - started < 50  # generous: the timeout is 2 s
        assert env.console_doc(server, node)["console_state"] == "on"
        again = env.Client(env.address(doc))  # the console is free for the next one
        sim.serial.write(b"next client\r\n")
        again.read_until(b"next client")
        again.close()
    finally:
        server.stop()


@pytest.mark.parametrize("case", ["wrong-password", "sol-disabled", "unreachable"])
def test_bmc_refuses_or_is_unreachable(server, sim, case):
    if case == "wrong-password":
        info = sim.driver_info(ipmi_password="not-the-password")
        expected = "ipmi_password"
    elif case == "sol-disabled":
        sim.ipmitool("sol", "set", "enabled", "false")
        info = sim.driver_info()
        expected = "SOL payload disabled (serial-over-LAN is disabled on the BMC"
    else:
        info = sim.driver_info(ipmi_port=sim_fixture.free_udp_port())
        expected = "no answer from the BMC"
    node = env.create_ipmi_node(server, "bad-" + case, info)
    env.enable(server, node)
    doc = env.wait_state(server, node, ("on", "failed"))
    assert doc["console_state"] == "failed", doc
    assert doc["console_enabled"] is False and doc["console_info"] is None
    assert expected in doc["console_error"], doc["console_error"]
    assert "not-the-password" not in doc["console_error"]
    # No zombie, no orphan: nothing runs for that BMC any more.
    port = info["ipmi_port"]
    wait_for(lambda: not env.sol_processes(port), 30, message="no ipmitool left")
    status, body = server.call("GET", "/v1/nodes/%s" % node)
    assert body["console_enabled"] is False and expected in body["console_error"]


def test_no_console_interface_is_a_clear_400(server):
    status, body = server.call("POST", "/v1/nodes", {
        "name": "no-console", "driver": "fake-hardware", "console_interface": "no-console"})
    assert status == 201, body
    status, body = server.call("PUT", "/v1/nodes/no-console/states/console",
                               {"enabled": True})
    assert status == 400, body
    assert "console interface (no-console)" in body["error_message"], body
    assert env.console_doc(server, "no-console")["console_state"] == "off"
    status, body = server.call("PUT", "/v1/nodes/no-console/states/console",
                               {"enabled": "maybe"})
    assert status == 400 and "enabled must be true or false" in body["error_message"]


def test_port_range_exhausted_starts_nothing(tmp_path, sim):
    server = env.console_server(tmp_path, ports=1).start()
    try:
        first = env.create_ipmi_node(server, "first", sim.driver_info())
        env.enable(server, first)
        assert env.wait_state(server, first, ("on", "failed"))["console_state"] == "on"
        other_bmc = sim_fixture.free_udp_port()
        second = env.create_ipmi_node(server, "second",
                                      sim.driver_info(ipmi_port=other_bmc))
        status, body = server.call("PUT", "/v1/nodes/second/states/console",
                                   {"enabled": True})
        assert status == 503, body
        assert "No free console port" in body["error_message"]
        assert "port_range" in body["error_message"]
        doc = env.console_doc(server, second)
        assert doc["console_state"] == "off" and doc["console_enabled"] is False
        assert not env.sol_processes(other_bmc)
        # Freeing the port lets the next one in.
        env.enable(server, first, False)
        env.wait_state(server, first, "off")
        env.enable(server, second)
        doc = env.wait_state(server, second, ("on", "failed"))
        assert doc["console_state"] == "failed"  # that BMC does not exist: but it ran
    finally:
        server.stop()


def test_baremetal_node_console_enable_show_disable(server, sim, tmp_path):
    """python-ironicclient's ``baremetal node console`` commands, unmodified."""
    from tests.functional.test_ironicclient import CLI
    cli = CLI(server, tmp_path / "home")
    env.create_ipmi_node(server, "ironic-console", sim.driver_info())
    shown = cli.json("node", "console", "show", "ironic-console")
    assert shown["console_enabled"] is False and shown["console_info"] is None
    cli.run("node", "console", "enable", "ironic-console")
    doc = env.wait_state(server, "ironic-console", ("on", "failed"))
    assert doc["console_state"] == "on", doc
    shown = cli.json("node", "console", "show", "ironic-console")
    assert shown["console_enabled"] is True
    assert shown["console_info"] == doc["console_info"]
    client = env.Client(env.address(shown))
    sim.serial.write(b"seen through baremetal's URL\r\n")
    client.read_until(b"baremetal's URL")
    client.close()
    node = cli.json("node", "show", "ironic-console")
    assert node["console_enabled"] is True
    cli.run("node", "console", "disable", "ironic-console")
    env.wait_state(server, "ironic-console", "off")
    shown = cli.json("node", "console", "show", "ironic-console")
    assert shown["console_enabled"] is False and shown["console_info"] is None


def test_ipmi_terminal_port_as_in_ironic(server, sim):
    """A node's own console port (Ironic's field) is used; a taken one is a clear 409."""
    wanted = server_proc.free_tcp_port()  # outside [console] port_range: a node's choice
    node = env.create_ipmi_node(server, "fixed-port",
                                sim.driver_info(ipmi_terminal_port=wanted))
    env.enable(server, node)
    doc = env.wait_state(server, node, ("on", "failed"))
    assert doc["console_state"] == "on", doc
    assert env.address(doc) == ("127.0.0.1", wanted)
    client = env.Client(("127.0.0.1", wanted))
    sim.serial.write(b"on the node's own port\r\n")
    client.read_until(b"own port")
    client.close()

    other = env.create_ipmi_node(server, "same-port", sim.driver_info(
        ipmi_port=sim_fixture.free_udp_port(), ipmi_terminal_port=wanted))
    status, body = server.call("PUT", "/v1/nodes/%s/states/console" % other,
                               {"enabled": True})
    assert status == 409, body
    assert ("ipmi_terminal_port %d is used by the console of node fixed-port" % wanted
            in body["error_message"]), body
    with socket.socket() as squatter:  # another program holds the port
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        status, body = server.call("PATCH", "/v1/nodes/%s" % other, [
            {"op": "replace", "path": "/driver_info/ipmi_terminal_port",
             "value": squatter.getsockname()[1]}])
        assert status == 200, body
        status, body = server.call("PUT", "/v1/nodes/%s/states/console" % other,
                                   {"enabled": True})
        assert status == 409 and "in use by another program" in body["error_message"]
    assert env.console_doc(server, other)["console_state"] == "off"
