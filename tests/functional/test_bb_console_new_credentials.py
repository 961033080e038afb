"""A console restarts with the node's current credentials, not those it was enabled with.

The operator rotates the BMC password: driver_info first, then the BMC. The
SOL session that was up goes on; when it ends (BMC reset, network loss),
the relay used to start it again with the old password, each restart
failing until the console was turned off, blaming ipmi_password although
driver_info had the right one. Now each restart reads the node again.
"""

import os
import signal


from tests.fixtures import ipmi_sim as sim_fixture
from tests.functional import console_env as env
from tests.waits import wait_for

NEW_PASSWORD = "R0tated-pw-31"


def test_restart_after_a_password_rotation_uses_the_new_password(tmp_path, sim):
    server = env.console_server(tmp_path, ports=2, restart_limit=2).start()
    try:
        node = env.create_ipmi_node(server, "rot1", sim.driver_info())
        env.enable(server, node)
        doc = env.wait_state(server, node, ("on", "failed"))
        assert doc["console_state"] == "on", doc
        old = wait_for(lambda: env.sol_processes(sim.port), 30, message="sol activate")

        # The rotation: driver_info, then the BMC.
        status, body = server.call("PATCH", "/v1/nodes/%s" % node, [
            {"op": "replace", "path": "/driver_info/ipmi_password", "value": NEW_PASSWORD}])
        assert status == 200, body
        sim.ipmitool("user", "set", "password", "2", NEW_PASSWORD)
        sim.password = NEW_PASSWORD

        for pid in old:  # the session ends by itself
            os.kill(pid, signal.SIGKILL)
        env.wait_state(server, node, ("restarting", "starting", "failed"))
        doc = env.wait_state(server, node, ("on", "failed"))
        assert doc["console_state"] == "on", doc
        assert doc["console_enabled"] is True, doc
        assert NEW_PASSWORD not in server.log()
        assert sim_fixture.PASSWORD not in server.log()
    finally:
        server.stop()
