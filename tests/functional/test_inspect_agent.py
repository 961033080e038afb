"""In-band inspection of a simulated machine: iPXE boots hwdrivers-agent, which reports.

The machine (hwdrivers.testing.simulator) has two MACs and a sparse 10 GiB
disk image; its node has a port for the first MAC only (the one it
network-boots from). The agent's inventory must report the machine's
hardware — its disk and both MACs — plus this host's CPUs and memory,
which are what the agent process really runs on.
"""

import os
import platform

import pytest

from hwdrivers.testing import simulator
from tests.functional.deploy_env import AGENT_ARGS
from tests.functional.deploy_env import running

GiB = 1024 ** 3
MACS = ["52:54:00:1e:00:01", "52:54:00:1e:00:02"]


@pytest.fixture
def env(tmp_path):
    with running(tmp_path) as environment:
        yield environment


def _enroll(env, name, macs, disk_size=10 * GiB):
    machine = simulator.Machine.create(
        str(env.tmp_path / "machines" / name), macs, disk_size,
        boot_url=env.server.url + "/boot/boot.ipxe", agent_args=AGENT_ARGS)
    env.machines[name] = machine
    status, node = env.call("POST", "/v1/nodes", {
        "name": name, "driver": "sim", "boot_interface": "ipxe",
        "deploy_interface": "direct", "inspect_interface": "agent",
        "driver_info": {"sim_path": machine.path, "deploy_kernel": env.kernel_url,
                        "deploy_ramdisk": env.ramdisk_path}})
    assert status == 201, node
    status, port = env.call("POST", "/v1/ports", {"address": macs[0],
                                                  "node_uuid": node["uuid"]})
    assert status == 201, port
    status, body = env.call("PUT", "/v1/nodes/%s/states/provision" % name,
                            {"target": "manage"})
    assert status == 202, body
    env.wait_state(name, "manageable", timeout=60)
    return machine, node


def _ports(env, name):
    status, body = env.call("GET", "/v1/ports?node=%s" % name)
    assert status == 200, body
    return sorted(p["address"] for p in body["ports"])


def test_agent_inspection_reports_the_machines_disk_and_macs(env):
    machine, node = _enroll(env, "sim-inspect", MACS)
    status, body = env.call("PUT", "/v1/nodes/sim-inspect/states/provision",
                            {"target": "inspect"})
    assert status == 202, body
    node = env.wait_state("sim-inspect", "manageable", timeout=90)
    assert node["last_error"] is None, node["last_error"]

    props = node["properties"]
    assert props["cpus"] == os.cpu_count()
    assert props["cpu_arch"] == platform.machine()
    assert props["memory_mb"] > 0
    assert props["local_gb"] == 9  # the 10 GiB image, less 1 GiB for partitioning
    mode = "uefi" if os.path.isdir("/sys/firmware/efi") else "bios"
    assert props["capabilities"] == "boot_mode:%s" % mode
    # [inspector] add_ports = pxe (Ironic's default): the second MAC, which the
    # machine did not network-boot from, gets no port; the first keeps its own,
    # marked as the PXE one
    assert _ports(env, "sim-inspect") == MACS[:1]
    status, body = env.call("GET", "/v1/ports/detail?node=sim-inspect")
    assert [p["pxe_enabled"] for p in body["ports"]] == [True]

    status, stored = env.call("GET", "/v1/nodes/sim-inspect/inventory")
    assert status == 200, stored
    inventory = stored["inventory"]
    assert [(d["name"], d["size"]) for d in inventory["disks"]] == [(machine.disk, 10 * GiB)]
    assert [(n["name"], n["mac_address"]) for n in inventory["interfaces"]] == [
        ("eth0", MACS[0]), ("eth1", MACS[1])]
    assert inventory["boot"] == {"current_boot_mode": mode, "pxe_interface": MACS[0]}
    assert stored["plugin_data"]["root_disk"]["name"] == machine.disk
    assert stored["plugin_data"]["error"] is None

    # The conductor powered the machine off and removed its boot scripts.
    assert machine.power == "off"
    assert node["power_state"] == "power off"
    leftover = [name for name in os.listdir(env.tmp_path / "httpboot" / "pxelinux.cfg")]
    assert leftover == []
    log = machine.agent_log()
    assert "inspection data accepted for node %s" % node["uuid"] in log
    # the boot script's ipa-node-uuid goes with the post (no lookup by MAC needed)
    assert "/v1/continue_inspection?node_uuid=%s" % node["uuid"] in log


def test_inspection_data_for_a_node_not_waiting_is_refused(env):
    """An agent posting for a node that is not in inspect wait changes nothing (404)."""
    _machine, node = _enroll(env, "idle", ["52:54:00:1e:00:0a"])
    data = {"inventory": {"interfaces": [{"name": "eth0",
                                          "mac_address": "52:54:00:1e:00:0a"}],
                          "cpu": {"count": 64, "architecture": "x86_64"}}}
    status, body = env.call("POST", "/v1/continue_inspection", data)
    assert status == 404, body
    # the caller (no credential) is not told the node or its state; the API's log is
    assert "No node is waiting" in body["error_message"]
    assert "idle" not in body["error_message"] and "manageable" not in body["error_message"]
    status, body = env.call("POST", "/v1/continue_inspection", {"inventory": {}})
    assert status == 400 and "interfaces" in body["error_message"]
    assert "cpus" not in env.node("idle")["properties"]
