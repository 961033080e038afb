"""A conductor killed in the middle of a deploy step: the node must not keep its ramdisk running.

The restarted conductor moves a node caught in ``deploying`` to ``deploy
failed`` (its worker died with the process). That happened in the database
alone: the simulated machine went on running the deploy ramdisk, its agent
still holding a valid token, until someone powered it off by hand. The
deploy-timeouts periodic now finishes the failure as any other does. The
same held for an in-band inspection killed in ``inspecting``.
"""

import sqlite3

import pytest

from tests.functional import deploy_env
from tests.waits import wait_for

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


def test_sigkill_during_a_deploy_step_fails_the_deploy_and_powers_the_ramdisk_off(tmp_path):
    with deploy_env.running(tmp_path) as env:
        url, digest, _ = env.add_image("kill.img", size=4 * MiB, marker="kill-image")
        # The agent's power off never ends: tear_down_agent (deploying, lock held)
        # waits [deploy] power_off_wait for the machine, long enough to be killed in.
        machine, _ = env.add_machine("kill1", agent_args=["--power-off-command", "sleep 120"],
                                     instance_info={"image_source": url,
                                                    "image_os_hash_algo": "sha256",
                                                    "image_os_hash_value": digest})
        env.make_available("kill1")
        env.deploy("kill1")

        def in_tear_down():
            node = env.node("kill1")
            index = node["driver_internal_info"].get("deploy_step_index")
            return node if node["provision_state"] == "deploying" and index == 3 else None
        wait_for(in_tear_down, timeout=60, interval=0.1, message="tear_down_agent")
        assert machine.power == "on"
        env.server.kill()
        env.server.start()

        node = env.wait_state("kill1", "deploy failed", timeout=30)
        assert "conductor restart" in node["last_error"], node["last_error"]
        node = wait_for(lambda: (lambda n: n if "powered off" in n["last_error"] else None)(
            env.node("kill1")), timeout=30, message="the failed deploy to be tidied")
        assert wait_for(lambda: machine.power == "off", timeout=30, message="power off")
        assert machine.state()["pid"] is None
        assert not any(k.startswith(("agent_", "deploy_step")) for k in
                       node["driver_internal_info"]), node["driver_internal_info"]
        assert [f for f in deploy_env.files_in(str(tmp_path / "httpboot"))
                if f != "boot.ipxe"] == []

        # and it deploys again from deploy failed
        env.deploy("kill1")
        node = env.wait_state("kill1", "active", timeout=90)
        assert node["last_error"] is None


def test_sigkill_during_in_band_inspection_ends_the_ramdisk(tmp_path):
    """Killed in ``inspecting`` (the ramdisk booting): the restart fails it and the
    inspection-timeouts periodic removes its boot files and powers it off.

    The kill lands in a window of a few milliseconds on the simulator (power
    on is instant), so the test stops the conductor while the node waits, with
    the machine running its ramdisk and its boot files in place, and puts the
    row back to what the kill leaves: ``inspecting``, as the worker wrote it.
    """
    with deploy_env.running(tmp_path) as env:
        # its agent posts nowhere: the machine stays in its ramdisk
        machine, _ = env.add_machine("ki1", agent_args=[
            "--api-url", "http://127.0.0.1:9",
            "--inspection-callback-url", "http://127.0.0.1:9/v1/continue_inspection"])
        status, body = env.call("PATCH", "/v1/nodes/ki1", [
            {"op": "replace", "path": "/inspect_interface", "value": "agent"}])
        assert status == 200, body
        env.call("PUT", "/v1/nodes/ki1/states/provision", {"target": "manage"})
        env.wait_state("ki1", "manageable", timeout=60)
        env.call("PUT", "/v1/nodes/ki1/states/provision", {"target": "inspect"})
        env.wait_state("ki1", "inspect wait", timeout=30)
        assert machine.power == "on"
        assert [f for f in deploy_env.files_in(str(tmp_path / "httpboot"))
                if f != "boot.ipxe"] != []
        env.server.kill()
        with sqlite3.connect(str(env.server.db_path)) as conn:
            conn.execute("UPDATE nodes SET provision_state = 'inspecting' WHERE name = 'ki1'")
        env.server.start()

        node = wait_for(lambda: (lambda n: n if "powered off" in (n["last_error"] or "")
                                 else None)(env.node("ki1")),
                        timeout=30, message="the interrupted inspection to be tidied")
        assert node["provision_state"] == "inspect failed"
        assert "conductor restart" in node["last_error"], node["last_error"]
        assert wait_for(lambda: machine.power == "off", timeout=30, message="power off")
        assert [f for f in deploy_env.files_in(str(tmp_path / "httpboot"))
                if f != "boot.ipxe"] == []
