"""Deploying an image end to end: API -> conductor -> iPXE -> hwdrivers-agent -> disk.

Everything is real and on 127.0.0.1: ``hwdrivers-server`` as a subprocess,
an HTTP server for the image, and a simulated machine
(hwdrivers.testing.simulator) whose power-on follows the iPXE chain served by
hwdrivers and starts ``hwdrivers-agent`` as a process on the machine's disk
file. The test then reads the disk file: the image's bytes, the config-2
partition with the meta_data sent, and what the machine booted afterwards.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from hwdrivers.testing import images
from hwdrivers.testing import simulator
from tests.functional import deploy_env
from tests.waits import wait_for

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
META = {"uuid": "0b5d4c1e-1111-4222-8333-944455556666", "hostname": "web-1",
        "public_keys": {"default": "ssh-ed25519 AAAA test"}}


@pytest.fixture
def env(tmp_path):
    with deploy_env.running(tmp_path) as environment:
        yield environment


def _instance_info(url, digest, **extra):
    info = {"image_source": url, "image_os_hash_algo": "sha256",
            "image_os_hash_value": digest, "image_disk_format": "raw", "root_gb": 0}
    info.update(extra)
    return info


def test_deploy_with_configdrive_via_ipxe_then_undeploy_and_redeploy(env):
    url, digest, path = env.add_image("web.img", size=8 * MiB, marker="web-image-1")
    machine, node = env.add_machine("web1", instance_info=_instance_info(url, digest))
    env.make_available("web1")

    env.deploy("web1", configdrive={"meta_data": META, "user_data": "#!/bin/sh\necho hi\n"})
    done = env.wait_state("web1", "active")
    assert done["last_error"] is None
    # Recorded by the deploy itself, not left to the next power sync.
    assert done["power_state"] == "power on" and machine.power == "on"
    assert done["instance_info"]["configdrive"] == "******"
    assert "agent_secret_token" not in json.dumps(done) or \
        done["driver_internal_info"].get("agent_secret_token") in (None, "******")

    # The image's bytes are on the disk; sgdisk -e (the config drive partition)
    # rewrote only the GPT headers, so compare the partition contents and boot code.
    size = os.path.getsize(path)
    with open(path, "rb") as image, open(machine.disk, "rb") as disk:
        assert disk.read(440) == image.read(440)
        image.seek(MiB)
        disk.seek(MiB)
        assert disk.read(size - 2 * MiB) == image.read(size - 2 * MiB)
    drive = images.read_config_drive(machine.disk)
    assert drive["<label>"] == b"config-2"
    # name defaults to the node's, as in Ironic
    assert json.loads(drive["openstack/latest/meta_data.json"]) == dict(META, name="web1")
    assert drive["openstack/latest/user_data"] == b"#!/bin/sh\necho hi\n"

    # The machine rebooted into its disk, through the boot device the deploy set.
    assert wait_for(lambda: machine.booted == "web-image-1", timeout=30,
                    message="the machine to boot its image")
    assert machine.get_boot_device() == {"boot_device": "disk", "persistent": True}
    assert machine.power == "on"
    # The ramdisk's iPXE scripts are gone; only boot.ipxe stays.
    assert deploy_env.files_in(str(env.tmp_path / "httpboot")) == ["boot.ipxe"]
    assert "hexhyp" in open(env.tmp_path / "httpboot" / "boot.ipxe").read()

    status, body = env.call("PUT", "/v1/nodes/web1/states/provision", {"target": "deleted"})
    assert status == 202, body
    node = env.wait_state("web1", "available")
    assert node["instance_info"] == {} and machine.power == "off"
    assert not any(k.startswith("agent_") or k.startswith("deploy_step")
                   for k in node["driver_internal_info"])

    # Redeploy without a config drive: the disk then holds exactly the image.
    status, body = env.call("PATCH", "/v1/nodes/web1", [
        {"op": "add", "path": "/instance_info", "value": _instance_info(url, digest)}])
    assert status == 200, body
    env.deploy("web1")
    env.wait_state("web1", "active")
    assert images.sha256_of(machine.disk, size) == digest
    assert wait_for(lambda: machine.booted == "web-image-1", timeout=30,
                    message="the machine to boot its image again")


def test_agent_token_is_one_time_and_required(env):
    """A second agent for the node gets no token; heartbeats without the token are 401."""
    url, digest, _ = env.add_image("tok.img", size=4 * MiB,
                                   delay=0.05)  # slow: the deploy stays in write_image
    machine, node = env.add_machine("tok1", instance_info=_instance_info(url, digest))
    env.make_available("tok1")
    env.deploy("tok1")
    wait_for(lambda: env.node("tok1")["driver_internal_info"].get("agent_url"),
             timeout=60, message="the agent's first heartbeat")
    # While it waits for its agent the node holds no lock; the token is stored
    # but never shown, logged, or put on a command line.
    waiting = wait_for(lambda: (lambda n: n if n["provision_state"] == "wait call-back"
                                and n["reservation"] is None else None)(env.node("tok1")),
                       timeout=30, message="the node waiting, unlocked")
    assert waiting["driver_internal_info"]["agent_secret_token"] == "******"
    row = env.server.db_rows("SELECT driver_internal_info FROM nodes WHERE uuid = ?",
                             node["uuid"])[0]
    token = json.loads(row["driver_internal_info"])["agent_secret_token"]
    assert len(token) >= 32
    assert token not in env.server.log() and token not in machine.agent_log()
    pid = machine.state()["pid"]
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        assert token.encode() not in handle.read()
    mac = machine.macs[0]
    status, body = env.call("GET", "/v1/lookup?addresses=%s" % mac)
    assert status == 200, body
    assert body["config"]["agent_token"] == "******"
    assert body["node"]["uuid"] == node["uuid"]
    status, body = env.call("POST", "/v1/heartbeat/%s" % node["uuid"],
                            {"callback_url": "http://127.0.0.1:9/", "agent_token": "x" * 43})
    assert status == 401, body
    assert "agent token" in body["error_message"]
    status, body = env.call("POST", "/v1/heartbeat/%s" % node["uuid"],
                            {"callback_url": "http://127.0.0.1:9/"})
    assert status == 401, body
    # The real agent is still the one the conductor talks to.
    assert env.node("tok1")["driver_internal_info"]["agent_url"] != "http://127.0.0.1:9/"
    env.wait_state("tok1", "active")


def test_lookup_of_unknown_mac_or_node_not_waiting_is_404(env):
    """The caller (no credential) hears only that no node waits; why is logged."""
    status, unknown = env.call("GET", "/v1/lookup?addresses=52:54:00:ff:ff:fe")
    assert status == 404, unknown
    assert "No node is waiting for this lookup" in unknown["error_message"]
    machine, node = env.add_machine("idle1")
    status, body = env.call("GET", "/v1/lookup?addresses=%s" % machine.macs[0])
    assert status == 404, body
    assert body == unknown  # an enrolled MAC is not told apart from an unknown one
    status, body = env.call("GET", "/v1/lookup")
    assert status == 400 and "addresses" in body["error_message"]
    # node_uuid from the boot script must agree with the MACs sent beside it
    status, body = env.call("GET", "/v1/lookup?addresses=52:54:00:ff:ff:fe&node_uuid=%s"
                            % node["uuid"])
    assert status == 404 and body == unknown, body
    log = env.server.log()  # the operator reads why in the server's log
    assert "no port with MAC address" in log and "'enroll'" in log
    status, body = env.call("POST", "/v1/heartbeat/%s" % node["uuid"],
                            {"callback_url": "http://127.0.0.1:9/"})
    assert status == 401, body


def test_boot_files_are_served_and_confined(env):
    root = env.tmp_path / "httpboot"
    root.mkdir(exist_ok=True)
    (root / "hello.txt").write_text("hi\n")
    (env.tmp_path / "secret.txt").write_text("no\n")
    with urllib.request.urlopen(env.server.url + "/boot/hello.txt", timeout=30) as resp:
        assert resp.read() == b"hi\n"
    for path in ("/boot/../secret.txt", "/boot/%2e%2e/secret.txt", "/boot/nothing"):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(env.server.url + path, timeout=30)
        assert caught.value.code == 404, path


def test_machine_without_a_script_boots_its_disk(env):
    machine, _ = env.add_machine("sim1")
    machine.set_boot_device("pxe", persistent=True)
    # No script for this MAC: iPXE exits and the machine falls back to its empty disk.
    machine.power_on()
    assert wait_for(lambda: machine.booted == simulator.NO_BOOTABLE_IMAGE, timeout=30,
                    message="the machine to fall back to its disk")
    machine.power_off()
    assert machine.power == "off"


def test_openstacksdk_and_baremetal_cli_deploy_with_config_drive(env, tmp_path, monkeypatch):
    """Ironic's own clients, unmodified: config drive as a dict (SDK) and JSON (CLI)."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key in [k for k in os.environ if k.startswith("OS_")]:
        monkeypatch.delenv(key)
    import openstack

    url, digest, _ = env.add_image("sdk.img", size=4 * MiB, marker="sdk-image")
    machine, node = env.add_machine("sdk1", instance_info=_instance_info(url, digest))
    env.make_available("sdk1")
    conn = openstack.connection.Connection(
        auth_type="none", baremetal_endpoint_override=env.server.url,
        baremetal_api_version="1")
    meta = {"uuid": node["uuid"], "hostname": "sdk-host"}
    done = conn.baremetal.set_node_provision_state(
        node["uuid"], "active", config_drive={"meta_data": meta}, wait=True, timeout=120)
    assert done.provision_state == "active"
    drive = images.read_config_drive(machine.disk)
    assert json.loads(drive["openstack/latest/meta_data.json"]) == dict(meta, name="sdk1")
    conn.baremetal.set_node_provision_state(node["uuid"], "deleted", wait=True,
                                            timeout=120)

    assert env.node("sdk1")["instance_info"] == {}  # undeploy forgets the instance
    status, body = env.call("PATCH", "/v1/nodes/sdk1", [
        {"op": "add", "path": "/instance_info", "value": _instance_info(url, digest)}])
    assert status == 200, body
    baremetal = os.path.join(os.path.dirname(sys.executable), "baremetal")
    cli_meta = {"uuid": node["uuid"], "hostname": "cli-host"}
    env_vars = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    proc = subprocess.run(
        [baremetal, "--os-endpoint", env.server.url, "--os-auth-type", "none",
         "node", "deploy", "sdk1", "--config-drive", json.dumps({"meta_data": cli_meta}),
         "--wait", "120"], env=env_vars, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr + env.server.log()[-3000:]
    assert env.node("sdk1")["provision_state"] == "active"
    drive = images.read_config_drive(machine.disk)
    assert json.loads(drive["openstack/latest/meta_data.json"]) == dict(cli_meta, name="sdk1")


def test_hwdrivers_cli_deploy_and_undeploy_show_progress(env, tmp_path):
    url, digest, _ = env.add_image("cli.img", size=4 * MiB, marker="cli-image")
    machine, node = env.add_machine("cli1", instance_info=_instance_info(url, digest))
    env.make_available("cli1")
    drive = tmp_path / "drive.json"
    drive.write_text(json.dumps({"meta_data": {"uuid": node["uuid"], "hostname": "c"}}))
    hwdrivers = os.path.join(os.path.dirname(sys.executable), "hwdrivers")
    cli_env = dict(os.environ, HWDRIVERS_URL=env.server.url)
    proc = subprocess.run([hwdrivers, "node", "deploy", "cli1", "--config-drive", str(drive),
                           "-f", "json"], env=cli_env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["provision_state"] == "active"
    # one progress line per change (sampled every 0.5 s): state, step, seconds
    lines = proc.stderr.splitlines()
    assert any(line.startswith("cli1: ") and " -> active step deploy." in line
               for line in lines), proc.stderr
    assert lines[-1].startswith("cli1: active ("), proc.stderr
    drive_files = images.read_config_drive(machine.disk)
    assert json.loads(drive_files["openstack/latest/meta_data.json"])["hostname"] == "c"
    proc = subprocess.run([hwdrivers, "node", "undeploy", "cli1", "-f", "json"],
                          env=cli_env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["provision_state"] == "available"
    proc = subprocess.run([hwdrivers, "node", "deploy", "cli1", "--config-drive", "{bad"],
                          env=cli_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "--config-drive" in proc.stderr


def test_conductor_restart_while_the_agent_writes(env):
    """Waiting holds no lock and no thread: a restarted conductor picks the deploy up
    from the agent's next heartbeat."""
    url, digest, _ = env.add_image("rs.img", size=4 * MiB, marker="restart-image",
                                   delay=0.05)  # about 3 s of writing
    machine, _ = env.add_machine("rs1", instance_info=_instance_info(url, digest))
    env.make_available("rs1")
    env.deploy("rs1")
    wait_for(lambda: env.node("rs1")["driver_internal_info"].get("deploy_step_index") == 1,
             timeout=60, message="write_image started")
    assert env.server.stop() == 0
    env.server.start()
    node = env.wait_state("rs1", "active", timeout=90)
    assert node["last_error"] is None
    assert wait_for(lambda: machine.booted == "restart-image", timeout=30, message="boot")


def test_a_deploy_watched_on_the_simulated_machines_console(tmp_path):
    """The sim console shows the machine's boot (iPXE chain) and its agent's log,
    live to a client and in the console log for whoever comes later."""
    from tests.functional import console_env
    environment = deploy_env.DeployEnv(tmp_path, server_options={
        "DEFAULT": {"enabled_console_interfaces": "sim,no-console"},
        "console": {"port_range": console_env.free_port_range(2)}}).start()
    try:
        server = environment.server
        url, digest, _ = environment.add_image("con.img", size=4 * MiB)
        environment.add_machine("con1", instance_info=_instance_info(url, digest))
        status, body = environment.call("PATCH", "/v1/nodes/con1", [
            {"op": "replace", "path": "/console_interface", "value": "sim"}])
        assert status == 200, body
        console_env.enable(server, "con1")
        client = console_env.Client(console_env.address(
            console_env.wait_state(server, "con1", "on")))
        environment.make_available("con1")
        environment.deploy("con1")
        client.read_until(b"power on: booting from pxe")
        client.read_until(b"hwdrivers-agent")  # the agent's own lines follow the boot's
        environment.wait_state("con1", "active")
        client.close()
        status, body = environment.call("GET", "/v1/nodes/con1/states/console/log?kib=64")
        assert status == 200, body
        text = json.dumps(body)
        assert "booting from pxe" in text and "lookup" in text
    finally:
        assert environment.stop() == 0
