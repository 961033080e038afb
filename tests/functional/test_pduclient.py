"""PDUDaemon's own ``pduclient`` against hwdrivers-server, in both of its modes.

``pduclient`` (Debian's pdudaemon-client; tools/test.sh installs it) always
talks to port 16421: its default mode sends PDUDaemon's TCP request, ``-H``
an HTTP GET. The server runs with ``[pdudaemon] listener = tcp`` or ``http``
on 16421 of a loopback address of its own (127.x.y.z), so parallel runs do
not collide; the node is a real snmp node on the snmpsim PDU, and the
outlet is read back from the PDU itself.
"""

import random
import shutil
import subprocess

import pytest

from hwdrivers.common.states import PowerState
from hwdrivers.drivers import task as driver_task
from tests.functional.server_proc import ServerProcess
from tests.waits import wait_for

PDUCLIENT = shutil.which("pduclient")
SNMP = {"reboot_delay": 0.05, "timeout": 0.3, "retries": 1,
        "command_retry_timeout": 1.0, "power_timeout": 2.0}

pytestmark = pytest.mark.skipif(PDUCLIENT is None, reason="pduclient is not installed "
                                "(apt install pdudaemon-client python3-requests)")


def loopback_address():
    """A 127.0.0.0/8 address other than 127.0.0.1, for port 16421 to be free on."""
    return "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255),
                             random.randint(1, 254))


@pytest.fixture(params=["tcp", "http"])
def server(request, tmp_path):
    listener = request.param
    daemon = loopback_address()
    proc = ServerProcess(tmp_path, {
        "DEFAULT": {"enabled_hardware_types": "fake-hardware,snmp",
                    "enabled_power_interfaces": "fake,snmp"},
        "snmp": SNMP,
        "pdudaemon": {"enabled": "true", "host": daemon, "port": 16421,
                      "listener": listener},
    }).start()
    try:
        wait_for(lambda: "serving PDUDaemon on %s://%s:16421" % (listener, daemon)
                 in proc.log(), timeout=10, interval=0.1, message="the PDUDaemon listener")
        proc.daemon, proc.listener = daemon, listener
        yield proc
    finally:
        assert proc.stop() == 0


def pduclient(server, pdu, outlet, command):
    argv = [PDUCLIENT, "--daemon", server.daemon, "--hostname", pdu, "--port",
            str(outlet), "--command", command]
    if server.listener == "http":
        argv.insert(1, "-H")
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def outlet_state(config, snmp_agent, outlet):
    """Read straight from the PDU, not from the server's database."""
    config(enabled_hardware_types=["snmp"], enabled_power_interfaces=["snmp"],
           **{"snmp__" + key: value for key, value in SNMP.items()})
    task = driver_task.StandaloneTask.for_driver(
        "snmp", driver_info=snmp_agent.driver_info("apc", outlet), name="check")
    return task.driver.power.get_power_state(task)


def test_pduclient_drives_the_outlet(server, config, snmp_agent):
    outlet = 18 if server.listener == "tcp" else 19
    status, doc = server.call("POST", "/v1/nodes", {
        "driver": "snmp", "name": "board", "driver_info": snmp_agent.driver_info(
            "apc", outlet)})
    assert status == 201, doc

    for command, expected in (("off", PowerState.OFF), ("on", PowerState.ON),
                              ("off", PowerState.OFF), ("reboot", PowerState.ON)):
        result = pduclient(server, snmp_agent.address, outlet, command)
        assert result.returncode == 0, (result.stdout, result.stderr, server.log())
        assert "Command sent successfully." in result.stdout

        def done():
            states = server.call("GET", "/v1/nodes/board/states")[1]
            return states if states["target_power_state"] is None else None

        states = wait_for(done, timeout=30, interval=0.1, message="pduclient %s" % command)
        assert states["power_state"] == expected.value, states
        assert states["last_error"] is None
        assert outlet_state(config, snmp_agent, outlet) == expected


def test_pduclient_is_told_why_a_request_is_refused(server, snmp_agent):
    result = pduclient(server, snmp_agent.address, 23, "on")
    assert result.returncode == 127, (result.stdout, result.stderr)
    if server.listener == "tcp":  # the reason reaches the operator
        assert "nack: No node has driver_info snmp_address=%s and snmp_outlet=23" % (
            snmp_agent.address) in result.stdout
    else:  # pduclient -H prints only the response object
        assert "404" in result.stdout
