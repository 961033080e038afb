"""Maintenance set while a deploy waits for its agent: the deploy pauses, as in Ironic.

The agent's heartbeats went on driving the deploy of a node the operator had
just taken out of service: its next steps powered the machine off through
the agent and on again into the new instance. Now a heartbeat of a node in
maintenance is recorded and drives nothing (Ironic's agent heartbeat does
the same), and the deploy goes on at the first heartbeat after maintenance
ends.

Likewise an in-band inspection waiting in ``inspect wait`` of a node put in
maintenance was timed out, and the node powered off, under the operator's
hands; it now times out once maintenance ends (Ironic skips maintenance
nodes in both timeout checks).

Manual cleaning of a node in maintenance was accepted and run (a BIOS step
reboots the node); Ironic refuses it, as ``provide`` and ``deploy`` are.
"""

import time

import pytest

from tests.functional import deploy_env
from tests.waits import wait_for

pytestmark = pytest.mark.slow


def test_maintenance_pauses_a_deploy_in_wait_call_back(tmp_path):
    with deploy_env.running(tmp_path) as env:
        machine = env.deploy_slowly("mw1", marker="maint-image")

        def writing():
            node = env.node("mw1")
            return (node["provision_state"] == "wait call-back" and node["reservation"] is None
                    and node["driver_internal_info"].get("deploy_step_index") == 1)
        wait_for(writing, timeout=60, interval=0.05, message="write_image running, unlocked")
        # a heartbeat may hold the lock for a moment: retried as clients do
        status, body = wait_for(lambda: (lambda r: r if r[0] != 409 else None)(env.call(
            "PUT", "/v1/nodes/mw1/maintenance", {"reason": "stop"})), timeout=10,
            message="maintenance set")
        assert status == 202, body
        assert env.node("mw1")["provision_state"] == "wait call-back"
        seen = env.node("mw1")["driver_internal_info"].get("agent_last_heartbeat")

        # the image is written (the agent's own work), heartbeats keep coming...
        wait_for(lambda: (env.node("mw1")["driver_internal_info"].get("agent_last_heartbeat")
                          or 0) > (seen or 0) + 4, timeout=30,
                 message="heartbeats well after the write")
        time.sleep(2)
        # ...and none of them moved the deploy on
        node = env.node("mw1")
        assert node["provision_state"] == "wait call-back", node["last_error"]
        assert node["driver_internal_info"]["deploy_step_index"] == 1
        assert machine.power == "on" and machine.state()["pid"] is not None
        assert "heartbeat in maintenance" in env.server.log()

        status, body = env.call("DELETE", "/v1/nodes/mw1/maintenance")
        assert status == 202, body
        node = env.wait_state("mw1", "active", timeout=60)
        assert node["last_error"] is None
        assert wait_for(lambda: machine.booted == "maint-image", timeout=30, message="boot")


def test_maintenance_holds_off_the_inspect_wait_timeout(tmp_path):
    with deploy_env.running(tmp_path, deploy_options={"callback_timeout": 3}) as env:
        # its agent posts nowhere: the node waits for an inventory that never comes
        machine, _ = env.add_machine("mi1", agent_args=[
            "--api-url", "http://127.0.0.1:9",
            "--inspection-callback-url", "http://127.0.0.1:9/v1/continue_inspection"])
        status, body = env.call("PATCH", "/v1/nodes/mi1", [
            {"op": "replace", "path": "/inspect_interface", "value": "agent"}])
        assert status == 200, body
        env.call("PUT", "/v1/nodes/mi1/states/provision", {"target": "manage"})
        env.wait_state("mi1", "manageable", timeout=60)
        status, body = env.call("PUT", "/v1/nodes/mi1/states/provision", {"target": "inspect"})
        assert status == 202, body
        env.wait_state("mi1", "inspect wait", timeout=30)
        status, body = env.call("PUT", "/v1/nodes/mi1/maintenance", {"reason": "hands on"})
        assert status == 202, body
        time.sleep(6)  # twice the callback timeout
        node = env.node("mi1")
        assert node["provision_state"] == "inspect wait", node["last_error"]
        assert machine.power == "on"

        status, body = env.call("DELETE", "/v1/nodes/mi1/maintenance")
        assert status == 202, body
        node = env.wait_state("mi1", "inspect failed", timeout=30)
        assert "timeout in inspect wait" in node["last_error"], node["last_error"]
        assert wait_for(lambda: machine.power == "off", timeout=30, message="power off")


def test_manual_cleaning_is_refused_in_maintenance(tmp_path):
    with deploy_env.running(tmp_path) as env:
        env.add_machine("mc1")
        env.call("PUT", "/v1/nodes/mc1/states/provision", {"target": "manage"})
        env.wait_state("mc1", "manageable", timeout=60)
        status, body = env.call("PUT", "/v1/nodes/mc1/maintenance", {"reason": "fan swap"})
        assert status == 202, body
        status, body = env.call("PUT", "/v1/nodes/mc1/states/provision", {
            "target": "clean", "clean_steps": [{"interface": "deploy", "step": "erase_devices"}]})
        assert status == 400, body
        assert "in maintenance (fan swap); clean is refused" in str(body), body
        node = env.node("mc1")
        assert node["provision_state"] == "manageable" and node["last_error"] is None
