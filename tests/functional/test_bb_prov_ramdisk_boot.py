"""Provisioning requests refused before anything changes, through the real server.

The ramdisk has to be booted by the node's boot interface: ``agent``
inspection or a ``direct`` deploy on a node whose boot interface is
``noop`` (the ipmi hardware type's default) waited the whole
``[deploy] callback_timeout`` for an agent nothing booted. They are now
refused before anything changes, naming the boot interface and the fix, as
Ironic's agent inspection refuses a boot it cannot manage.

Agent inspection through ``ipxe`` of a node without a port was accepted
(202), then failed in the worker; a deploy of the same node is refused.

``hwdrivers node deploy`` of a deploy that failed said "active failed".

A config drive URL with no host (``http://``) was passed to the agent,
which found it only after a power cycle and a ramdisk boot.
"""

import os
import subprocess
import sys

import pytest

from hwdrivers.testing import simulator
from tests.functional import deploy_env

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with deploy_env.running(tmp_path_factory.mktemp("bb-prov-boot")) as environment:
        yield environment


def _noop_machine(env, name, **fields):
    """A simulated machine enrolled with boot_interface noop (no deploy_kernel to give)."""
    machine = simulator.Machine.create(
        str(env.tmp_path / "machines" / name), ["52:54:00:b0:07:%02x" % len(env.machines)],
        64 * MiB, boot_url=env.server.url + "/boot/boot.ipxe",
        agent_args=deploy_env.AGENT_ARGS)
    env.machines[name] = machine
    status, node = env.call("POST", "/v1/nodes", dict(
        {"name": name, "driver": "sim", "driver_info": {"sim_path": machine.path},
         "boot_interface": "noop", "deploy_interface": "direct"}, **fields))
    assert status == 201, node
    status, port = env.call("POST", "/v1/ports", {"address": machine.macs[0],
                                                  "node_uuid": node["uuid"]})
    assert status == 201, port
    return machine


def _fix_named(text, needed_by):
    assert needed_by in text, text
    assert "boot_interface noop boots nothing" in text, text
    assert "set boot_interface to ipxe or redfish-virtual-media" in text, text


def test_agent_inspection_with_noop_boot_is_refused_naming_the_fix(env):
    machine = _noop_machine(env, "insp-noop", inspect_interface="agent")
    env.call("PUT", "/v1/nodes/insp-noop/states/provision", {"target": "manage"})
    env.wait_state("insp-noop", "manageable", timeout=60)

    status, body = env.call("GET", "/v1/nodes/insp-noop/validate")
    assert status == 200, body
    assert body["inspect"]["result"] is False
    _fix_named(body["inspect"]["reason"], "inspect_interface agent")
    assert "inspection_require_managed_boot" in body["inspect"]["reason"]

    status, body = env.call("PUT", "/v1/nodes/insp-noop/states/provision",
                            {"target": "inspect"})
    assert status == 400, body
    _fix_named(str(body), "inspect_interface agent")
    node = env.node("insp-noop")
    assert node["provision_state"] == "manageable" and node["power_state"] != "power on"
    assert machine.power == "off"


def test_direct_deploy_with_noop_boot_is_refused_naming_the_fix(env):
    url, digest, _ = env.add_image("noop.img", size=4 * MiB)
    machine = _noop_machine(env, "dep-noop", instance_info={
        "image_source": url, "image_os_hash_algo": "sha256",
        "image_os_hash_value": digest})
    env.make_available("dep-noop")
    status, body = env.call("PUT", "/v1/nodes/dep-noop/states/provision",
                            {"target": "active"})
    assert status == 400, body
    _fix_named(str(body), "deploy_interface direct")
    node = env.node("dep-noop")
    assert node["provision_state"] == "available" and node["last_error"] is None
    assert machine.power == "off"


@pytest.mark.parametrize("configdrive", ["http://", "https://[::1",
                                         "http://user:s3cret@cfg:99999/x"])
def test_config_drive_url_without_a_host_is_refused_before_the_deploy(env, configdrive):
    name = "cd-%d" % len(env.machines)
    url, digest, _ = env.add_image("%s.img" % name, size=4 * MiB)
    machine, _ = env.add_machine(name, instance_info={
        "image_source": url, "image_os_hash_algo": "sha256", "image_os_hash_value": digest})
    env.make_available(name)
    status, body = env.call("PUT", "/v1/nodes/%s/states/provision" % name,
                            {"target": "active", "configdrive": configdrive})
    assert status == 400, body
    assert "configdrive" in str(body) and "not an http(s) URL with a host" in str(body), body
    assert "s3cret" not in str(body)
    node = env.node(name)
    assert node["provision_state"] == "available" and "configdrive" not in node["instance_info"]
    assert machine.power == "off"


def test_agent_inspection_without_a_port_is_refused_naming_the_fix(env):
    name = "insp-noport"
    machine = simulator.Machine.create(
        str(env.tmp_path / "machines" / name), ["52:54:00:b0:08:01"], 64 * MiB,
        boot_url=env.server.url + "/boot/boot.ipxe", agent_args=deploy_env.AGENT_ARGS)
    env.machines[name] = machine
    status, node = env.call("POST", "/v1/nodes", {
        "name": name, "driver": "sim", "boot_interface": "ipxe", "inspect_interface": "agent",
        "driver_info": {"sim_path": machine.path, "deploy_kernel": env.kernel_url,
                        "deploy_ramdisk": env.ramdisk_path}})
    assert status == 201, node
    env.call("PUT", "/v1/nodes/%s/states/provision" % name, {"target": "manage"})
    env.wait_state(name, "manageable", timeout=60)
    status, body = env.call("PUT", "/v1/nodes/%s/states/provision" % name,
                            {"target": "inspect"})
    assert status == 400, body
    assert "needs a port with the MAC address" in str(body), body
    assert "POST /v1/ports" in str(body), body
    node = env.node(name)
    assert node["provision_state"] == "manageable" and node["last_error"] is None
    assert machine.power == "off"


def test_cli_names_a_failed_deploy_a_deploy(env):
    url, _, _ = env.add_image("cli-sum.img", size=4 * MiB)
    env.add_machine("cli-sum", instance_info={
        "image_source": url, "image_os_hash_algo": "sha256", "image_os_hash_value": "0" * 64})
    env.make_available("cli-sum")
    hwdrivers = os.path.join(os.path.dirname(sys.executable), "hwdrivers")
    proc = subprocess.run([hwdrivers, "node", "deploy", "cli-sum"],
                          env=dict(os.environ, HWDRIVERS_URL=env.server.url),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stderr
    assert "Node cli-sum: deploy failed: " in proc.stderr, proc.stderr
    assert "ImageChecksumError" in proc.stderr and "active failed" not in proc.stderr
