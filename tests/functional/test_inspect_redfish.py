"""Redfish inspection and BIOS settings through the real server and sushy-tools' emulator.

One ``hwdrivers-server`` and one emulator (tests/fixtures/redfish_hardware.py:
sushy-tools' routes, templates and BIOS registry, systems with CPUs, memory,
Storage drives and a BIOS) serve every test here. Each test enrolls its own
node on its own emulated system.
"""

import json
import os
import socket

import pytest
import requests

from tests.fixtures.redfish_hardware import start_hardware_emulator
from tests.fixtures.processes import stop_group
from tests.functional import server_proc
from tests.waits import wait_for

GiB = 1024 ** 3


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = start_hardware_emulator(tmp_path_factory.mktemp("redfish-hw"))
    yield emu
    stop_group(emu.process)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = server_proc.ServerProcess(
        tmp_path_factory.mktemp("inspect-server"), name="inspect",
        options={"redfish": {"command_retry_timeout": 1, "connect_timeout": 2}})
    proc.start()
    yield proc
    code = proc.stop()
    assert code == 0, "hwdrivers-server exited %s:\n%s" % (code, proc.log())


def _ok(result, status=200):
    assert result[0] == status, result
    return result[1]


def _node(server, name, driver_info, **fields):
    return _ok(server.call("POST", "/v1/nodes", dict(
        {"name": name, "driver": "redfish", "driver_info": driver_info}, **fields)), 201)


def _provision(server, name, target, **body):
    return server.call("PUT", "/v1/nodes/%s/states/provision" % name,
                       dict(body, target=target))


def _settle(server, name, timeout=90):
    """The node once no work is going on (a stable provision state)."""
    def stable():
        node = _ok(server.call("GET", "/v1/nodes/%s" % name))
        return node if node["target_provision_state"] is None else None
    return wait_for(stable, timeout, interval=0.2, message="node %s to settle" % name)


def _managed(server, name, system, emulator, **info):
    _node(server, name, emulator.driver_info(system, **info))
    _ok(_provision(server, name, "manage"), 202)
    assert _settle(server, name)["provision_state"] == "manageable"


def _ports(server, name):
    return sorted(p["address"] for p in _ok(server.call(
        "GET", "/v1/ports?node=%s&fields=address" % name))["ports"])


def _free_mac(server, mac):
    """Delete the port an earlier test's inspection made for ``mac``, if any."""
    for port in _ok(server.call("GET", "/v1/ports?address=%s" % mac))["ports"]:
        _ok(server.call("DELETE", "/v1/ports/%s" % port["uuid"]), 204)


def _bios(server, name):
    return {s["name"]: s["value"] for s in _ok(server.call(
        "GET", "/v1/nodes/%s/bios" % name))["bios"]}


def _emulated_bios(emulator, system):
    url = "%s/redfish/v1/Systems/%s/BIOS" % (emulator.url, emulator.uuid(system))
    return requests.get(url, auth=(emulator.username, emulator.password),
                        timeout=10).json()["Attributes"]


def test_inspect_writes_properties_ports_and_keeps_the_inventory(server, emulator):
    _managed(server, "hw-a", "hw-a", emulator)
    assert _ok(server.call("GET", "/v1/nodes/hw-a/inventory"), 404) is not None
    _ok(_provision(server, "hw-a", "inspect"), 202)
    node = _settle(server, "hw-a")
    assert node["provision_state"] == "manageable", node["last_error"]
    assert node["last_error"] is None
    props = node["properties"]
    # 2 sockets x 8 threads, 64 GiB, the smaller (480 GiB) drive less 1 GiB, UEFI
    assert props["cpus"] == 16 and props["cpu_arch"] == "x86_64"
    assert props["memory_mb"] == 64 * 1024
    assert props["local_gb"] == 479
    assert props["capabilities"] == "boot_mode:uefi"
    assert _ports(server, "hw-a") == ["52:54:00:aa:00:01", "52:54:00:aa:00:02"]

    stored = _ok(server.call("GET", "/v1/nodes/hw-a/inventory"))
    inventory = stored["inventory"]
    assert sorted(n["mac_address"] for n in inventory["interfaces"]) == [
        "52:54:00:aa:00:01", "52:54:00:aa:00:02"]
    assert sorted((d["size"], d["media_type"], d["protocol"]) for d in inventory["disks"]) == [
        (480 * GiB, "HDD", "SATA"), (2048 * GiB, "HDD", "SAS")]
    assert all(d["serial"] for d in inventory["disks"])
    assert inventory["boot"] == {"current_boot_mode": "uefi"}
    assert stored["plugin_data"]["not_reported"] == []

    # The BIOS table was read with the inspection, registry entries and all.
    assert _bios(server, "hw-a")["ProcTurboMode"] == "Enabled"
    detail = _ok(server.call("GET", "/v1/nodes/hw-a/bios/NumCores"))["NumCores"]
    assert detail["read_only"] is True and detail["attribute_type"] == "Integer"
    # As Ironic: fields and detail=true together are a 400, not one silently ignored.
    status, body = server.call("GET", "/v1/nodes/hw-a/bios?detail=true&fields=name")
    assert status == 400 and "fields cannot be combined" in json.dumps(body)

    # Re-inspection: the same ports, no duplicate; an operator's property stays.
    _ok(server.call("PATCH", "/v1/nodes/hw-a", [
        {"op": "add", "path": "/properties/rack", "value": "r7"}]))
    _ok(_provision(server, "hw-a", "inspect"), 202)
    node = _settle(server, "hw-a")
    assert node["provision_state"] == "manageable", node["last_error"]
    assert node["properties"]["rack"] == "r7" and node["properties"]["cpus"] == 16
    assert _ports(server, "hw-a") == ["52:54:00:aa:00:01", "52:54:00:aa:00:02"]


def test_bios_settings_applied_through_manual_cleaning(server, emulator):
    _managed(server, "hw-b", "hw-b", emulator)
    steps = [{"interface": "bios", "step": "apply_configuration",
              "args": {"settings": [{"name": "ProcTurboMode", "value": "Disabled"},
                                    {"name": "QuietBoot", "value": "false"},
                                    {"name": "SysPassword", "value": "Bios-s3cret-9"}]}}]
    _ok(_provision(server, "hw-b", "clean", clean_steps=steps), 202)
    # while it runs, the node shows which steps, never their arguments
    running = _ok(server.call("GET", "/v1/nodes/hw-b"))
    assert running["driver_internal_info"].get("clean_steps") in (
        None, [{"interface": "bios", "step": "apply_configuration"}])
    node = _settle(server, "hw-b", timeout=120)
    assert node["provision_state"] == "manageable", node["last_error"]
    # applied at the reboot the step made, and verified
    assert node["power_state"] == "power on"
    emulated = _emulated_bios(emulator, "hw-b")
    assert emulated["ProcTurboMode"] == "Disabled" and emulated["QuietBoot"] is False
    cached = _bios(server, "hw-b")
    assert cached["ProcTurboMode"] == "Disabled" and cached["QuietBoot"] == "False"
    # a Password attribute is set, but never stored, shown or logged
    assert emulated["SysPassword"] == "Bios-s3cret-9"
    assert cached["SysPassword"] is None
    assert "Bios-s3cret-9" not in server.log()
    assert "Bios-s3cret-9" not in json.dumps(_ok(server.call("GET", "/v1/nodes/hw-b")))

    _ok(_provision(server, "hw-b", "clean", clean_steps=[
        {"interface": "bios", "step": "factory_reset"}]), 202)
    node = _settle(server, "hw-b", timeout=120)
    assert node["provision_state"] == "manageable", node["last_error"]
    assert _emulated_bios(emulator, "hw-b")["ProcTurboMode"] == "Enabled"
    assert _bios(server, "hw-b")["ProcTurboMode"] == "Enabled"


def _patches(emulator, system):
    return emulator.count_requests(
        "PATCH", "/redfish/v1/Systems/%s/BIOS/Settings" % emulator.uuid(system))


def test_bad_bios_settings_are_refused_before_anything_is_sent(server, emulator):
    _managed(server, "hw-c", "hw-c", emulator)
    before = _patches(emulator, "hw-c")
    # Never inspected: no cached registry, so the step checks the live one and
    # the node fails cleaning naming the attribute -- without a PATCH.
    bad = [{"interface": "bios", "step": "apply_configuration",
            "args": {"settings": [{"name": "NumCores", "value": "12"}]}}]
    _ok(_provision(server, "hw-c", "clean", clean_steps=bad), 202)
    node = _settle(server, "hw-c")
    assert node["provision_state"] == "clean failed"
    assert "NumCores is read-only" in node["last_error"]
    assert "bios.apply_configuration" in node["last_error"]
    assert _patches(emulator, "hw-c") == before
    # A failed clean step holds the node for an operator, as Ironic does.
    assert node["maintenance"] is True and node["fault"] == "clean failure"
    _ok(_provision(server, "hw-c", "manage"), 202)
    assert _settle(server, "hw-c")["provision_state"] == "manageable"
    _ok(server.call("DELETE", "/v1/nodes/hw-c/maintenance"), 202)

    # Inspected: the cached registry refuses at once (400), nothing changes.
    _ok(_provision(server, "hw-c", "inspect"), 202)
    assert _settle(server, "hw-c")["provision_state"] == "manageable"
    for settings, words in (
            ([{"name": "NoSuchKnob", "value": "1"}],
             ["NoSuchKnob does not exist", "ProcTurboMode"]),
            ([{"name": "SecureBootStatus", "value": "Disabled"}],
             ["SecureBootStatus is read-only", "Enabled, Disabled"]),
            ([{"name": "ProcTurboMode", "value": "Maybe"}],
             ["ProcTurboMode", "allowed values: Enabled, Disabled"])):
        status, body = _provision(server, "hw-c", "clean", clean_steps=[
            {"interface": "bios", "step": "apply_configuration",
             "args": {"settings": settings}}])
        assert status == 400, body
        for word in words:
            assert word in body["error_message"], body
    node = _ok(server.call("GET", "/v1/nodes/hw-c"))
    assert node["provision_state"] == "manageable" and node["last_error"] is None
    assert _patches(emulator, "hw-c") == before


def test_unknown_clean_steps_and_wrong_arguments_are_400(server, emulator):
    _node(server, "steps", emulator.driver_info("hw-c"))
    _ok(_provision(server, "steps", "manage"), 202)
    _settle(server, "steps")
    for steps, words in (
            ([{"interface": "bios", "step": "overclock"}],
             ["clean step bios.overclock does not exist", "apply_configuration",
              "factory_reset"]),
            ([{"interface": "bios", "step": "apply_configuration", "args": {"setings": []}}],
             ["clean step bios.apply_configuration", "unknown argument(s) setings",
              "missing argument(s) settings"]),
            ([{"interface": "bios", "step": "factory_reset", "args": {"now": True}}],
             ["clean step bios.factory_reset takes no arguments", "now"]),
            ([{"interface": "warp", "step": "engage"}], ["interface 'warp'"])):
        status, body = _provision(server, "steps", "clean", clean_steps=steps)
        assert status == 400, body
        for word in words:
            assert word in body["error_message"], body
    status, body = _provision(server, "steps", "clean")
    assert status == 400 and "clean_steps is required" in body["error_message"]
    node = _ok(server.call("GET", "/v1/nodes/steps"))
    assert node["provision_state"] == "manageable" and node["last_error"] is None


def test_a_mac_on_another_node_refuses_the_inspection(server, emulator):
    other = _node(server, "owner-of-mac", emulator.driver_info("hw-a"))
    _free_mac(server, "52:54:00:cc:00:01")
    _ok(server.call("POST", "/v1/ports", {"address": "52:54:00:cc:00:01",
                                          "node_uuid": other["uuid"]}), 201)
    _managed(server, "hw-c-dup", "hw-c", emulator)
    _ok(_provision(server, "hw-c-dup", "inspect"), 202)
    node = _settle(server, "hw-c-dup")
    assert node["provision_state"] == "inspect failed"
    assert "hw-c-dup" in node["last_error"] and "owner-of-mac" in node["last_error"]
    assert "52:54:00:cc:00:01" in node["last_error"]
    assert _ports(server, "hw-c-dup") == []
    assert "cpus" not in node["properties"]
    _ok(server.call("DELETE", "/v1/nodes/owner-of-mac"), 204)


def test_an_unreachable_bmc_fails_the_inspection_and_manage_recovers(server, emulator):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = "http://127.0.0.1:%d" % sock.getsockname()[1]
    _managed(server, "gone", "hw-b", emulator)
    _ok(server.call("PATCH", "/v1/nodes/gone", [
        {"op": "replace", "path": "/driver_info/redfish_address", "value": closed}]))
    _ok(_provision(server, "gone", "inspect"), 202)
    node = _settle(server, "gone")
    assert node["provision_state"] == "inspect failed"
    assert node["last_error"].startswith("inspect failed in provision state inspecting")
    assert closed.rpartition("/")[2] in node["last_error"]
    _ok(server.call("PATCH", "/v1/nodes/gone", [
        {"op": "replace", "path": "/driver_info/redfish_address", "value": emulator.url}]))
    _ok(_provision(server, "gone", "manage"), 202)
    assert _settle(server, "gone")["provision_state"] == "manageable"


def test_ironic_clients_inspect_and_clean_unmodified(server, emulator, tmp_path, monkeypatch):
    """``baremetal node inspect/clean --wait`` and openstacksdk, as they are."""
    from tests.functional.test_ironicclient import CLI

    cli = CLI(server, tmp_path / "home")
    _managed(server, "cli-hw", "hw-c", emulator)
    _free_mac(server, "52:54:00:cc:00:01")
    cli.run("node", "inspect", "cli-hw", "--wait", "60")
    shown = _ok(server.call("GET", "/v1/nodes/cli-hw"))
    assert shown["provision_state"] == "manageable"
    assert shown["properties"]["cpus"] == 8 and shown["properties"]["memory_mb"] == 32768
    bios = {s["name"]: s["value"] for s in cli.json("node", "bios", "setting", "list",
                                                    "cli-hw")}
    assert bios["NicBoot1"] == "NetworkBoot"
    cli.run("node", "clean", "cli-hw", "--wait", "120", "--clean-steps", json.dumps([
        {"interface": "bios", "step": "apply_configuration",
         "args": {"settings": [{"name": "NicBoot1", "value": "Disabled"}]}}]))
    assert _bios(server, "cli-hw")["NicBoot1"] == "Disabled"
    assert _emulated_bios(emulator, "hw-c")["NicBoot1"] == "Disabled"
    bad = cli.run("node", "clean", "cli-hw", "--clean-steps", json.dumps([
        {"interface": "bios", "step": "overclock"}]), check=False)
    assert bad.returncode != 0 and "bios.overclock does not exist" in bad.stderr

    monkeypatch.setenv("HOME", str(tmp_path / "sdk-home"))
    for key in [k for k in os.environ if k.startswith("OS_")]:
        monkeypatch.delenv(key)
    import openstack

    conn = openstack.connection.Connection(
        auth_type="none", baremetal_endpoint_override=server.url,
        baremetal_api_version="1")
    node = conn.baremetal.set_node_provision_state("cli-hw", "inspect", wait=True,
                                                   timeout=60)
    assert node.provision_state == "manageable"
    assert node.properties["cpu_arch"] == "x86_64"
