"""Consoles enabled while their BMCs do not answer: bounded, and no starved power actions.

An operator with a slow-BMC fleet sets ``[ipmi] timeout``/``retries`` up
(ipmitool then takes ~36 s per call against a silent BMC). Enabling
consoles during a BMC outage used to cost ``start_timeout`` for the
``sol deactivate`` cleanup and again for ``sol activate`` (plus a margin:
up to 75 s with the defaults), each in one of the conductor's workers: a
fleet-wide enable took every worker and power actions got 503.
"""

import time

import pytest

from tests.functional import console_env as env
from tests.functional import server_proc

pytestmark = pytest.mark.slow

PASSWORD = "outage-pw-77"


def _server(tmp_path, **console):
    return server_proc.ServerProcess(tmp_path, options={
        "console": dict({"port_range": env.free_port_range(6)}, **console),
        # ipmitool: -N 5 -R 3, ~36 s per call against a silent BMC
        "ipmi": {"timeout": 5, "retries": 3, "command_timeout": 90},
        "conductor": {"workers_pool_size": 2},
    }).start()


def test_enables_during_an_outage_are_bounded_and_leave_workers_to_power(
        tmp_path, udp_blackhole):
    # start_timeout 15 (not the default 30) keeps CI short; the old code took
    # it twice plus a 15 s margin: 30-45 s here.
    server = _server(tmp_path, change_workers=3, start_timeout=15)
    try:
        info = {"ipmi_address": "127.0.0.1", "ipmi_port": udp_blackhole.port,
                "ipmi_username": "admin", "ipmi_password": PASSWORD}
        nodes = [env.create_ipmi_node(server, "down%d" % i, info) for i in range(4)]
        status, body = server.call("POST", "/v1/nodes", {"name": "web1",
                                                         "driver": "fake-hardware"})
        assert status == 201, body
        began = time.monotonic()
        for node in nodes[:3]:
            env.enable(server, node)
        # More enables than the conductor has workers, all still starting:
        # power actions still get a worker.
        status, body = server.call("PUT", "/v1/nodes/web1/states/power",
                                   {"target": "power on"})
        assert status == 202, (status, body)
        assert all(env.console_doc(server, n)["console_state"] == "starting"
                   for n in nodes[:3])
        # The console's own limit refuses, naming it.
        status, body = server.call("PUT", "/v1/nodes/%s/states/console" % nodes[3],
                                   {"enabled": True})
        assert status == 503, (status, body)
        assert "[console] change_workers" in str(body), body
        for node in nodes[:3]:
            doc = env.wait_state(server, node, ("on", "failed"), timeout=120)
            assert doc["console_state"] == "failed", doc
            assert doc["console_enabled"] is False, doc
            error = doc["console_error"]
            assert "BMC 127.0.0.1:%d" % udp_blackhole.port in error, error
            assert "[console] start_timeout" in error, error
            assert PASSWORD not in error
        # One budget for the cleanup and the activation: ~15 s, not 30-45 s.
        elapsed = time.monotonic() - began
        assert elapsed < 27, "enables took %.0f s: start_timeout not a bound" % elapsed
        status, body = server.call("GET", "/v1/nodes/%s" % nodes[0])
        assert body["console_enabled"] is False and "start_timeout" in body["console_error"]
        assert PASSWORD not in server.log()
    finally:
        server.stop()
