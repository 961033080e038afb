"""Ironic's own clients, unmodified, against the real ``hwdrivers-server``.

The server runs as a subprocess (tests/functional/server_proc.py: a private
SQLite database, a config file, a free loopback port). python-ironicclient's
``baremetal`` CLI and openstacksdk's baremetal proxy then enroll, manage,
provide, power on/off, set the boot device, list and delete nodes, with no
authentication (``auth_strategy = noauth``, the default).
"""

import json
import os
import subprocess
import sys
import time

import pytest

from tests.functional import server_proc
from tests.waits import wait_for

BAREMETAL = os.path.join(os.path.dirname(sys.executable), "baremetal")


@pytest.fixture
def server(tmp_path):
    with server_proc.running(tmp_path, name="ironicclient") as proc:
        yield proc


def _poll(predicate, what, timeout=30):
    return wait_for(predicate, timeout, interval=0.1, message=what)


class CLI:
    """``baremetal --os-endpoint URL --os-auth-type none ...``, JSON output."""

    def __init__(self, server, home, api_version=None):
        self.server = server
        self.api_version = api_version
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        # ironicclient caches the negotiated version under ~/.cache.
        self.env["HOME"] = str(home)

    def run(self, *args, check=True):
        cmd = [BAREMETAL, "--os-endpoint", self.server.url, "--os-auth-type", "none"]
        if self.api_version:
            cmd += ["--os-baremetal-api-version", self.api_version]
        cmd += list(args)
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                              timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s\n%s\nserver log:\n%s" % (
                " ".join(args), proc.returncode, proc.stdout, proc.stderr,
                self.server.log()[-3000:]))
        return proc

    def json(self, *args):
        return json.loads(self.run(*(args + ("-f", "json"))).stdout)


def test_baremetal_cli_lifecycle(server, tmp_path):
    """The default client behaviour: negotiate the newest common version."""
    cli = CLI(server, tmp_path / "home")
    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "cli-node",
                    "--driver-info", "fake_username=admin",
                    "--driver-info", "fake_password=s3cret-pw",
                    "--property", "cpus=4")
    assert node["name"] == "cli-node" and node["provision_state"] == "enroll"
    assert node["driver_info"] == {"fake_username": "admin", "fake_password": "******"}

    cli.run("node", "manage", "cli-node", "--wait", "30")
    assert cli.json("node", "show", "cli-node")["provision_state"] == "manageable"
    cli.run("node", "provide", "cli-node", "--wait", "30")
    assert cli.json("node", "show", "cli-node")["provision_state"] == "available"

    cli.run("node", "power", "on", "cli-node")
    _poll(lambda: cli.json("node", "show", "cli-node")["power_state"] == "power on",
          "power on")
    cli.run("node", "power", "off", "cli-node")
    _poll(lambda: cli.json("node", "show", "cli-node")["power_state"] == "power off",
          "power off")

    cli.run("node", "boot", "device", "set", "cli-node", "pxe", "--persistent")
    assert cli.json("node", "boot", "device", "show", "cli-node") == {
        "boot_device": "pxe", "persistent": True}
    supported = cli.json("node", "boot", "device", "show", "cli-node", "--supported")
    assert "pxe" in supported["supported_boot_devices"]

    cli.run("node", "set", "cli-node", "--extra", "rack=r7")
    shown = cli.json("node", "show", "cli-node")
    assert shown["extra"] == {"rack": "r7"}
    assert shown["properties"] == {"cpus": 4}

    port = cli.json("port", "create", "--node", node["uuid"], "52:54:00:ab:cd:ef")
    assert port["node_uuid"] == node["uuid"]
    assert [p["address"] for p in cli.json("port", "list")] == ["52:54:00:ab:cd:ef"]

    listed = cli.json("node", "list")
    assert [(n["name"], n["power_state"], n["provision_state"]) for n in listed] == [
        ("cli-node", "power off", "available")]
    # hwdrivers-server enables every in-tree driver by default.
    assert sorted(d["name"] for d in cli.json("driver", "list")) == [
        "command", "external", "fake-hardware", "ipmi", "redfish", "snmp"]
    assert cli.json("conductor", "list")[0]["alive"] is True

    # Refusals come back as one readable line, and change nothing.
    bad = cli.run("node", "set", "cli-node", "--driver", "no-such-driver", check=False)
    assert bad.returncode != 0 and "no-such-driver" in bad.stderr
    assert cli.json("node", "show", "cli-node")["driver"] == "fake-hardware"

    assert "s3cret-pw" not in cli.run("node", "show", "cli-node").stdout
    assert "s3cret-pw" not in cli.run("node", "list", "--long").stdout

    cli.run("node", "delete", "cli-node")
    assert cli.json("node", "list") == []
    assert server.db_rows("SELECT * FROM ports") == []


@pytest.mark.parametrize("api_version", ["1.31", "latest"])
def test_baremetal_cli_explicit_versions(server, tmp_path, api_version):
    cli = CLI(server, tmp_path / "home", api_version=api_version)
    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "v-node")
    assert cli.json("node", "show", node["uuid"])["name"] == "v-node"
    cli.run("node", "power", "on", "v-node")
    _poll(lambda: cli.json("node", "show", "v-node")["power_state"] == "power on",
          "power on")
    cli.run("node", "delete", "v-node")
    assert cli.json("node", "list") == []


def test_baremetal_cli_rejects_unsupported_version(server, tmp_path):
    cli = CLI(server, tmp_path / "home", api_version="1.200")
    proc = cli.run("node", "list", check=False)
    assert proc.returncode != 0
    assert "1.109" in proc.stderr  # the server's maximum, from the 406 headers


def test_openstacksdk_lifecycle(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for key in [k for k in os.environ if k.startswith("OS_")]:
        monkeypatch.delenv(key)
    import openstack

    conn = openstack.connection.Connection(
        auth_type="none", baremetal_endpoint_override=server.url,
        baremetal_api_version="1")
    bm = conn.baremetal
    node = bm.create_node(driver="fake-hardware", name="sdk-node",
                          driver_info={"fake_password": "sdk-s3cret"})
    assert node.provision_state == "enroll"
    assert node.driver_info == {"fake_password": "******"}

    node = bm.set_node_provision_state(node, "manage", wait=True, timeout=30)
    assert node.provision_state == "manageable"
    node = bm.set_node_provision_state(node, "provide", wait=True, timeout=30)
    assert node.provision_state == "available"

    bm.set_node_power_state(node, "power on", wait=True, timeout=30)
    assert bm.get_node("sdk-node").power_state == "power on"
    bm.set_node_power_state(node, "power off", wait=True, timeout=30)
    assert bm.get_node("sdk-node").power_state == "power off"

    bm.set_node_boot_device(node, "disk", persistent=False)
    assert bm.get_node_boot_device(node) == {"boot_device": "disk", "persistent": False}
    assert "disk" in bm.get_node_supported_boot_devices(node)["supported_boot_devices"]

    results = bm.validate_node(node, required=("power", "management"))
    assert results["power"].result is True

    bm.set_node_maintenance(node, reason="swap fan")
    shown = bm.get_node("sdk-node")
    assert shown.is_maintenance is True and shown.maintenance_reason == "swap fan"
    bm.unset_node_maintenance(node)
    assert bm.get_node("sdk-node").is_maintenance is False

    bm.patch_node(node, [{"op": "add", "path": "/extra/owner_team", "value": "infra"}])
    assert bm.get_node("sdk-node").extra == {"owner_team": "infra"}

    port = bm.create_port(node_uuid=node.id, address="52:54:00:00:5d:01")
    assert [p.address for p in bm.ports(details=True)] == ["52:54:00:00:5d:01"]
    assert [n.name for n in bm.nodes(details=True)] == ["sdk-node"]
    assert "fake-hardware" in [d.name for d in bm.drivers()]

    from openstack import exceptions as sdk_exc
    with pytest.raises(sdk_exc.BadRequestException, match="power_state"):
        bm.patch_node(node, [{"op": "replace", "path": "/power_state",
                              "value": "power on"}])
    with pytest.raises(sdk_exc.BadRequestException, match="available"):
        bm.set_node_provision_state(node, "provide")  # already available: 400, as Ironic
    bm.delete_port(port)
    bm.delete_node(node)
    assert list(bm.nodes()) == []
    rows = server.db_rows("SELECT name FROM nodes")
    assert rows == []


def test_server_starts_fast_and_stops_cleanly(tmp_path):
    proc = server_proc.ServerProcess(tmp_path, name="timing")
    proc.start()
    first = proc.started_in
    assert proc.stop() == 0
    proc.start()  # schema already current: the common case
    second = proc.started_in
    assert proc.stop() == 0
    print("hwdrivers-server to serving: %.2f s (fresh DB), %.2f s (existing DB)"
          % (first, second))
    assert "serving on %s" % proc.url in proc.log()
    # The target is < 1 s on an idle machine; the bound leaves room for a
    # loaded CI host (the measured figures are printed above).
    assert second < 5.0, "start-up took %.2f s" % second


def test_noauth_refuses_non_loopback_bind(tmp_path):
    proc = server_proc.ServerProcess(tmp_path, name="remote",
                                     options={"api": {"host": "0.0.0.0"}})
    begin = time.monotonic()
    result = subprocess.run([server_proc.SERVER, "--config-file", str(proc.config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "allow_insecure_noauth_bind" in result.stderr
    assert "0.0.0.0" in result.stderr
    assert time.monotonic() - begin < 30


def test_too_large_body_is_an_ironic_shaped_413(tmp_path):
    proc = server_proc.ServerProcess(tmp_path, name="limit",
                                     options={"api": {"max_request_body_size": 2048}})
    proc.start()
    try:
        body = {"driver": "fake-hardware", "name": "big", "extra": {"blob": "x" * 4096}}
        status, answer = proc.call("POST", "/v1/nodes", body)
        assert status == 413
        fault = json.loads(answer["error_message"])
        assert "max_request_body_size" in fault["faultstring"]
        status, answer = proc.call("GET", "/v1/nodes")
        assert status == 200 and answer["nodes"] == []
    finally:
        assert proc.stop() == 0


def test_baremetal_driver_property_list_keeps_ironics_map(server, tmp_path):
    """hwdrivers' ?detail extension must not change what Ironic's client lists."""
    cli = CLI(server, tmp_path / "home")
    rows = cli.json("driver", "property", "list", "ipmi")
    listed = {row["property"]: row["description"] for row in rows}
    assert listed["ipmi_password"].endswith("Optional.")
    assert listed["ipmi_address"].endswith("Required.")
    assert "interfaces" not in listed and "properties" not in listed


def test_baremetal_node_history_list(server, tmp_path):
    """`baremetal node history list` (API 1.78) reads what the conductor recorded."""
    cli = CLI(server, tmp_path / "home")
    cli.run("node", "create", "--driver", "fake-hardware", "--name", "hist")
    cli.run("node", "maintenance", "set", "hist", "--reason", "swap PSU")
    events = cli.json("node", "history", "list", "hist", "--long")
    assert [e["event"] for e in events] == ["maintenance set: swap PSU"]
    assert events[0]["severity"] == "WARNING" and events[0]["event_type"] == "maintenance"


def test_baremetal_port_pxe_enabled_strings(server, tmp_path):
    """ironicclient sends pxe_enabled as a string: "false" from `port create
    --pxe-enabled false`, "True"/"False" from `port set --pxe-enabled/--pxe-disabled`.
    Accepted as Ironic accepts them, stored as a boolean (SQLite's 0/1)."""
    cli = CLI(server, tmp_path / "home")
    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "pxe-node")
    port = cli.json("port", "create", "52:54:00:00:10:01", "--node", node["uuid"],
                    "--pxe-enabled", "false")
    assert port["pxe_enabled"] is False
    cli.run("port", "set", port["uuid"], "--pxe-enabled")
    assert cli.json("port", "show", port["uuid"])["pxe_enabled"] is True
    cli.run("port", "set", port["uuid"], "--pxe-disabled")
    assert cli.json("port", "show", port["uuid"])["pxe_enabled"] is False
    assert server.db_rows("SELECT pxe_enabled FROM ports") == [{"pxe_enabled": 0}]
    bad = cli.run("port", "create", "52:54:00:00:10:02", "--node", node["uuid"],
                  "--pxe-enabled", "maybe", check=False)
    assert bad.returncode != 0
    assert "pxe_enabled" in bad.stderr and "maybe" in bad.stderr, bad.stderr
    assert len(cli.json("port", "list")) == 1
