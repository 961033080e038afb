"""A console enabled before a conductor restart comes back once its BMC answers again.

The restore after a restart started each enabled console once: a BMC that
did not answer at that moment (a rack's power cycle took the conductor and
the BMCs down together, and BMCs boot slower than conductors) had its
console turned off for good, though it was enabled and the BMC came back a
minute later. Such a start is now retried like a session that ended by
itself (1, 2, 4... s apart, ``[console] restart_limit`` times), and only
then turned off, naming the restart.
"""

import pytest

from hwdrivers.testing import processes
from tests.fixtures import ipmi_sim as sim_fixture
from tests.functional import console_env as env
from tests.functional import server_proc

pytestmark = pytest.mark.slow


@pytest.fixture
def sim(tmp_path):
    sim_fixture.require_ipmi_sim()
    started = sim_fixture.IPMISim(str(tmp_path / "sim")).start()
    yield started
    started.stop()


def test_restored_console_waits_for_its_bmc(tmp_path, sim):
    port_range = env.free_port_range(2)

    def life(name):
        return server_proc.ServerProcess(tmp_path, name=name, options={
            "console": {"port_range": port_range, "start_timeout": 5,
                        "restart_limit": 8}}).start()

    first = life("before")
    try:
        node = env.create_ipmi_node(first, "outage", sim.driver_info())
        env.enable(first, node)
        assert env.wait_state(first, node, ("on", "failed"))["console_state"] == "on"
    finally:
        assert first.stop() == 0, first.log()
    processes.stop_group(sim.proc)  # the BMC is down when the conductor comes back

    second = life("after")
    try:
        doc = env.wait_state(second, node, ("restarting", "failed", "on"))
        assert doc["console_state"] == "restarting", doc
        assert doc["console_enabled"] is True, doc
        assert "BMC 127.0.0.1:%d" % sim.port in doc["console_error"], doc
        assert sim.password not in doc["console_error"]
        sim.start()  # the BMC answers again
        doc = env.wait_state(second, node, ("on", "failed"), timeout=120)
        assert doc["console_state"] == "on", doc
        assert doc["console_enabled"] is True and doc["console_error"] is None, doc
        client = env.Client(env.address(doc))
        try:
            sim.serial.write(b"back after the outage\r\n")
            client.read_until(b"back after the outage")
        finally:
            client.close()
        status, body = second.call("GET", "/v1/nodes/%s" % node)
        assert body["console_enabled"] is True and body["console_error"] is None, body
    finally:
        assert second.stop() == 0, second.log()


def test_restored_console_is_turned_off_after_the_restart_limit(tmp_path, sim):
    port_range = env.free_port_range(2)

    def life(name, limit):
        return server_proc.ServerProcess(tmp_path, name=name, options={
            "console": {"port_range": port_range, "start_timeout": 5,
                        "restart_limit": limit}}).start()

    first = life("before", 8)
    try:
        node = env.create_ipmi_node(first, "gone", sim.driver_info())
        env.enable(first, node)
        assert env.wait_state(first, node, ("on", "failed"))["console_state"] == "on"
    finally:
        assert first.stop() == 0, first.log()
    processes.stop_group(sim.proc)

    second = life("after", 1)
    try:
        doc = env.wait_state(second, node, ("failed",), timeout=120)
        assert doc["console_enabled"] is False and doc["console_info"] is None, doc
        error = doc["console_error"]
        assert "not started again after conductor functest-conductor restarted" in error
        assert "[console] restart_limit" in error and "BMC 127.0.0.1" in error, error
        status, body = second.call("GET", "/v1/nodes/%s" % node)
        assert body["console_enabled"] is False and body["console_error"] == error, body
        status, body = second.call("GET", "/v1/nodes/%s/history" % node)
        assert status == 200, body
        assert sum("not started again" in e["event"] for e in body["history"]) == 1, body
    finally:
        assert second.stop() == 0, second.log()
