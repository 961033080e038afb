"""A conductor SIGKILLed in the middle of a manual cleaning, driven as an operator would.

The restart moves the node to ``clean failed`` saying why. The cleaning's
plan (``driver_internal_info.clean_steps``, ``clean_step_index``) stayed on
the node through ``baremetal node manage`` and on: a node back in
``manageable`` (then ``available``) still showing a cleaning at its first
step. The restarted conductor now names the step in last_error, drops the
plan and holds the node in maintenance (fault ``clean failure``), as after
a failed step. The operator's next ``baremetal node clean`` with a
``priority`` or empty non-object ``args`` is a 400 saying what to fix (both
were taken, the priority ignored).
"""

import pytest

from tests.functional import server_proc
from tests.functional.ironic_clients import baremetal
from tests.waits import wait_for

pytestmark = pytest.mark.slow

ERASE = '[{"interface": "deploy", "step": "erase_devices"}]'


def _node(server):
    status, body = server.call("GET", "/v1/nodes/kc1")
    assert status == 200, body
    return body


def test_sigkill_mid_clean_then_manage_drops_the_plan(tmp_path):
    slow = server_proc.ServerProcess(tmp_path, name="slow",
                                     options={"fake": {"deploy_delay": "60"}})
    slow.home = tmp_path / "home"
    slow.start()
    try:
        baremetal(slow, "node", "create", "--driver", "fake-hardware", "--name", "kc1")
        baremetal(slow, "node", "manage", "kc1", "--wait", "60")
        baremetal(slow, "node", "clean", "kc1", "--clean-steps", ERASE)
        wait_for(lambda: _node(slow)["driver_internal_info"].get("clean_step_index") == 0,
                 timeout=30, message="the erase step running")
    finally:
        slow.kill()

    with server_proc.running(tmp_path, name="after") as server:
        server.home = tmp_path / "home"
        node = _node(server)
        assert node["provision_state"] == "clean failed", node
        assert node["target_provision_state"] is None
        for words in ("conductor restart", "clean step deploy.erase_devices (step 1 of 1)",
                      "moved to clean failed"):
            assert words in node["last_error"], node["last_error"]  # which step ran
        # The erase stopped half-way: held for an operator, as a failed step is.
        assert node["maintenance"] is True and node["fault"] == "clean failure"
        assert "clean_steps" not in node["driver_internal_info"]
        assert node["clean_step"] == {}

        baremetal(server, "node", "manage", "kc1", "--wait", "60")
        baremetal(server, "node", "maintenance", "unset", "kc1")
        assert _node(server)["fault"] is None
        node = _node(server)
        assert node["provision_state"] == "manageable"
        assert "clean_steps" not in node["driver_internal_info"], node["driver_internal_info"]
        assert "clean_step_index" not in node["driver_internal_info"]

        for steps, words in (
                ('[{"interface": "deploy", "step": "erase_devices", "priority": 99}]',
                 "priority is not taken"),
                ('[{"interface": "deploy", "step": "erase_devices", "args": []}]',
                 "args must be an object")):
            proc = baremetal(server, "node", "clean", "kc1", "--clean-steps", steps,
                             check=False)
            assert proc.returncode == 1 and "HTTP 400" in proc.stderr, proc.stderr
            assert words in proc.stderr, proc.stderr
        assert _node(server)["provision_state"] == "manageable"
