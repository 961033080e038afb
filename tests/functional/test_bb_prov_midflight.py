"""A node's interfaces changed while its deploy waits for the agent: refused.

A PATCH of ``boot_interface`` (to ``noop``) in ``wait call-back`` was
accepted; the deploy then failed, and the new boot interface's clean-up
removed nothing, so the iPXE scripts the old one wrote stayed: the machine
would boot the deploy ramdisk again at its next network boot. Ironic
refuses interface changes outside enroll/manageable/available/inspection.
"""

import pytest

from tests.functional import deploy_env

pytestmark = pytest.mark.slow


def test_interfaces_cannot_change_while_a_deploy_waits(tmp_path):
    with deploy_env.running(tmp_path) as env:
        env.deploy_slowly("mf1", marker="midflight")
        env.wait_state("mf1", "wait call-back", timeout=30)
        for field, value in (("boot_interface", "noop"), ("deploy_interface", "noop"),
                             ("driver", "fake-hardware")):
            status, body = env.call("PATCH", "/v1/nodes/mf1", [
                {"op": "replace", "path": "/" + field, "value": value}])
            assert status == 400, (field, body)
            assert "%s cannot change while it is deploying" % field in str(body), body
        node = env.node("mf1")
        assert (node["boot_interface"], node["deploy_interface"], node["driver"]) == (
            "ipxe", "direct", "sim")
        env.wait_state("mf1", "active", timeout=90)
        assert [f for f in deploy_env.files_in(str(tmp_path / "httpboot"))
                if f != "boot.ipxe"] == []
        # once active, the operator may change them again
        status, body = env.call("PATCH", "/v1/nodes/mf1", [
            {"op": "replace", "path": "/deploy_interface", "value": "noop"}])
        assert status == 200, body
