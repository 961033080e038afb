"""Ironic's ``rebuild``: the instance's image written again, through the real server and agent.

It was refused ("Provision target rebuild is not supported", and
``hwdrivers node`` had no ``rebuild``), so an operator (or Nova's rebuild)
had to undeploy — which also cleans and loses the node
to the pool — and deploy again.
"""

import json
import os
import subprocess
import sys

import pytest

from hwdrivers.testing import images
from tests.functional import deploy_env
from tests.waits import wait_for

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


def _provision(env, name, target, **body):
    return env.call("PUT", "/v1/nodes/%s/states/provision" % name, dict(body, target=target),
                    headers={"X-OpenStack-Ironic-API-Version": "1.87"})


def _meta_data(machine):
    """The config drive's meta_data on the machine's disk (uuid and name default
    to the node's, as Ironic builds one)."""
    meta = json.loads(images.read_config_drive(machine.disk)["openstack/latest/meta_data.json"])
    assert meta["name"] == "rb1" and meta["uuid"]
    return meta


def test_rebuild_writes_the_new_image_and_keeps_the_config_drive(tmp_path):
    with deploy_env.running(tmp_path) as env:
        url1, digest1, _ = env.add_image("one.img", size=4 * MiB, marker="rebuild-one")
        url2, digest2, _ = env.add_image("two.img", size=4 * MiB, marker="rebuild-two")
        machine, _ = env.add_machine("rb1", instance_info={
            "image_source": url1, "image_os_hash_algo": "sha256",
            "image_os_hash_value": digest1})
        env.make_available("rb1")

        status, body = _provision(env, "rb1", "rebuild")
        assert status == 400 and "available" in str(body) and "deploy" in str(body), body

        env.deploy("rb1", configdrive={"meta_data": {"hostname": "rb1"}})
        env.wait_state("rb1", "active", timeout=90)
        assert wait_for(lambda: machine.booted == "rebuild-one", timeout=30, message="boot")

        status, body = env.call("PATCH", "/v1/nodes/rb1", [
            {"op": "replace", "path": "/instance_info/image_source", "value": url2},
            {"op": "replace", "path": "/instance_info/image_os_hash_value", "value": digest2}])
        assert status == 200, body

        env.call("PUT", "/v1/nodes/rb1/maintenance", {"reason": "bios update"})
        status, body = _provision(env, "rb1", "rebuild")
        assert status == 400 and "maintenance" in str(body), body
        env.call("DELETE", "/v1/nodes/rb1/maintenance")

        status, body = _provision(env, "rb1", "rebuild")
        assert status == 202, body
        node = env.wait_state("rb1", "active", timeout=90)
        assert node["last_error"] is None
        assert wait_for(lambda: machine.booted == "rebuild-two", timeout=30, message="boot")
        assert _meta_data(machine)["hostname"] == "rb1"

        # a new config drive replaces the old one
        status, body = _provision(env, "rb1", "rebuild",
                                  configdrive={"meta_data": {"hostname": "rb1-new"}})
        assert status == 202, body
        env.wait_state("rb1", "active", timeout=90)
        assert _meta_data(machine)["hostname"] == "rb1-new"

        # and from hwdrivers' own CLI, with its progress line
        hwdrivers = os.path.join(os.path.dirname(sys.executable), "hwdrivers")
        proc = subprocess.run([hwdrivers, "node", "rebuild", "rb1", "-f", "json"],
                              env=dict(os.environ, HWDRIVERS_URL=env.server.url),
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["provision_state"] == "active"
        assert "rb1: deploying -> active step deploy." in proc.stderr, proc.stderr
