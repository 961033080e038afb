"""Errors and filters as Ironic's clients meet them, against the real ``hwdrivers-server``.

One server for the module (tests/functional/server_proc.py); ``baremetal``,
openstacksdk and plain HTTP drive it as they would Ironic, and the
``hwdrivers`` CLI over ``--url`` where its wording differs.
"""

import json
import os
import subprocess
import sys

import openstack
import pytest

from tests.functional import server_proc

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bb-compat2-api")
    with server_proc.running(tmp_path, name="compat2") as proc:
        proc.home = tmp_path / "home"
        yield proc


def _run(server, argv, check):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "HWDRIVERS_"))}
    env["HOME"] = str(server.home)  # ironicclient caches the negotiated version there
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (
            " ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


def baremetal(server, *args, check=True):
    return _run(server, [os.path.join(BIN, "baremetal"), "--os-endpoint", server.url,
                         "--os-auth-type", "none"] + list(args), check)


def hwdrivers(server, *args, check=True):
    return _run(server, [os.path.join(BIN, "hwdrivers"), "--url", server.url] + list(args),
                check)


def fault(body):
    return json.loads(body["error_message"])["faultstring"]


def test_unknown_node_says_how_to_list_nodes_where_it_is_read(server):
    """The API's 404 told ``baremetal`` users to run ``hwdrivers node list``."""
    proc = baremetal(server, "node", "show", "nowhere", check=False)
    assert proc.returncode == 1
    assert ("Node nowhere could not be found; GET /v1/nodes lists them. (HTTP 404)"
            in proc.stderr), proc.stderr
    status, body = server.call("PUT", "/v1/nodes/nowhere/states/power",
                               {"target": "power on"})
    assert status == 404
    assert fault(body) == "Node nowhere could not be found; GET /v1/nodes lists them."
    # The hwdrivers CLI over the API says its own command, as it does locally.
    proc = hwdrivers(server, "node", "show", "nowhere", check=False)
    assert proc.returncode == 1
    assert proc.stderr == ("ERROR: Node nowhere could not be found; list nodes with "
                           "'hwdrivers node list'.\n")


def test_unknown_driver_says_what_is_wrong_first_and_suggests_only_a_typo(server):
    """``--driver nope`` began "Did you mean snmp?" (any name half alike)."""
    proc = baremetal(server, "node", "create", "--driver", "nope", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        "Field driver: Hardware type nope is not enabled or does not exist; enabled: "
        "command, "), proc.stderr
    assert "Did you mean" not in proc.stderr and "snmp" in proc.stderr
    proc = baremetal(server, "node", "create", "--driver", "redfsh", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Field driver: Hardware type redfsh is not enabled"), \
        proc.stderr
    assert "enabled_hardware_types. Did you mean redfish? (HTTP 400)" in proc.stderr


def test_patch_replace_of_a_missing_key_is_refused(server):
    """``replace /extra/nokey`` added the key; RFC 6902 and Ironic refuse it."""
    status, node = server.call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "r1", "extra": {"kept": 1}})
    assert status == 201, node
    status, body = server.call("PATCH", "/v1/nodes/r1", [
        {"op": "replace", "path": "/extra/nokey", "value": 2}])
    assert status == 400
    assert fault(body) == ("Patch operation 0: cannot replace /extra/nokey: extra has no "
                           "key nokey; use add to create it")
    # Earlier operations of the patch count, in order; the stored keys too.
    status, body = server.call("PATCH", "/v1/nodes/r1", [
        {"op": "replace", "path": "/extra/kept", "value": 3},
        {"op": "add", "path": "/extra/new", "value": 4},
        {"op": "replace", "path": "/extra/new", "value": 5},
        {"op": "replace", "path": "/properties", "value": {"cpus": 1}},
        {"op": "replace", "path": "/properties/cpus", "value": 2}])
    assert status == 200, body
    assert body["extra"] == {"kept": 3, "new": 5} and body["properties"] == {"cpus": 2}
    status, body = server.call("PATCH", "/v1/nodes/r1", [
        {"op": "remove", "path": "/extra/new"},
        {"op": "replace", "path": "/extra/new", "value": 6}])
    assert status == 400 and "Patch operation 1: cannot replace /extra/new" in fault(body)
    assert server.call("GET", "/v1/nodes/r1")[1]["extra"] == {"kept": 3, "new": 5}
    # Ports' extra alike.
    status, port = server.call("POST", "/v1/ports", {
        "address": "52:54:00:00:30:01", "node_uuid": "r1"})
    assert status == 201, port
    status, body = server.call("PATCH", "/v1/ports/%s" % port["uuid"], [
        {"op": "replace", "path": "/extra/nokey", "value": 1}])
    assert status == 400 and "cannot replace /extra/nokey" in fault(body), body


def test_boolean_query_parameters_read_as_ironic_reads_them(server):
    """``maintenance=t``, ``detail=Y``... (oslo's strict bool_from_string) were 400s."""
    for name, maintenance in (("bq-on", True), ("bq-off", False)):
        status, body = server.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                         "name": name})
        assert status == 201, body
        if maintenance:
            status, body = server.call("PUT", "/v1/nodes/%s/maintenance" % name,
                                       {"reason": "test"})
            assert status == 202, body

    def names(query):
        status, body = server.call("GET", "/v1/nodes?" + query)
        assert status == 200, body
        return {n["name"] for n in body["nodes"]} & {"bq-on", "bq-off"}

    for text in ("t", "T", "y", "Yes", "on", "1", "TRUE"):
        assert names("maintenance=" + text) == {"bq-on"}, text
    for text in ("f", "N", "no", "OFF", "0", "False"):
        assert names("maintenance=" + text) == {"bq-off"}, text
    status, body = server.call("GET", "/v1/nodes?detail=Y&maintenance=t")
    assert status == 200 and "driver_info" in body["nodes"][0], body
    status, body = server.call("GET", "/v1/ports?detail=t")
    assert status == 200, body
    for query, name in (("maintenance=maybe", "maintenance"), ("detail=2", "detail")):
        status, body = server.call("GET", "/v1/nodes?" + query)
        assert status == 400, body
        assert fault(body) == (
            "Query parameter %s must be a boolean, got %r; use, in any case, "
            "1/t/true/on/y/yes for true or 0/f/false/off/n/no for false."
            % (name, query.partition("=")[2]))


def test_cli_sets_and_unsets_the_conductor_group_as_the_api_does(server, tmp_path):
    """``baremetal node unset --conductor-group`` moves a node to the default
    group; the hwdrivers CLI had no way to (nor to set one)."""
    local = tmp_path / "local.conf"
    local.write_text("[database]\nconnection = sqlite:///%s\n" % server.db_path)

    def group(name):
        return server.call("GET", "/v1/nodes/%s" % name)[1]["conductor_group"]

    hwdrivers(server, "node", "create", "--driver", "fake-hardware", "--name", "g1",
              "--conductor-group", "Rack7")
    assert group("g1") == "rack7"
    out = _run(server, [os.path.join(BIN, "hwdrivers"), "--config-file", str(local),
                        "node", "unset", "g1", "--conductor-group", "-f", "json"], True)
    assert json.loads(out.stdout)["conductor_group"] == ""
    assert group("g1") == ""
    hwdrivers(server, "node", "set", "g1", "--conductor-group", "RACK8")
    assert group("g1") == "rack8"
    hwdrivers(server, "node", "unset", "g1", "--conductor-group")
    assert group("g1") == ""


def test_ports_filtered_by_conductor_groups(server):
    """openstacksdk's ``ports(conductor_groups=[...])`` (API 1.99) was a 400."""
    made = {}
    for name, group in (("cg-a", "RackA"), ("cg-b", "rackb"), ("cg-none", "")):
        status, node = server.call("POST", "/v1/nodes", {
            "driver": "fake-hardware", "name": name, "conductor_group": group},
            headers={"X-OpenStack-Ironic-API-Version": "1.46"})
        assert status == 201, node
        for i in range(2):
            status, port = server.call("POST", "/v1/ports", {
                "address": "52:54:00:00:40:%02x" % (len(made) * 2 + i),
                "node_uuid": node["uuid"]})
            assert status == 201, port
            made.setdefault(name, set()).add(port["uuid"])
    conn = openstack.connect(auth_type="none", baremetal_endpoint_override=server.url)
    assert {p.id for p in conn.baremetal.ports(conductor_groups=["racka"])} == made["cg-a"]
    assert ({p.id for p in conn.baremetal.ports(conductor_groups=["RACKA", "rackb"],
                                                 details=True)}
            == made["cg-a"] | made["cg-b"])
    # Comma-separated, as Ironic reads the list; pages keep the filter.
    status, body = server.call("GET", "/v1/ports?conductor_groups=rackb,nope&limit=1")
    assert status == 200 and "conductor_groups=rackb" in body["next"], body
    status, rest = server.call("GET", "/" + body["next"].split("/", 3)[3])
    assert status == 200, rest
    assert {p["uuid"] for p in body["ports"] + rest["ports"]} == made["cg-b"]
    address = "52:54:00:00:40:00"
    assert [p.address for p in conn.baremetal.ports(address=address,
                                                    conductor_groups=["racka"])] == [address]
    assert list(conn.baremetal.ports(address=address, conductor_groups=["rackb"])) == []


def test_rebuild_with_a_config_drive_needs_api_1_35(server):
    """Below 1.35 Ironic takes a config drive with ``active`` only; hwdrivers
    took it with ``rebuild`` at any version."""
    status, body = server.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                     "name": "rb-old"})
    assert status == 201, body
    proc = baremetal(server, "--os-baremetal-api-version", "1.34", "node", "rebuild",
                     "rb-old", "--config-drive", '{"meta_data": {"hostname": "x"}}',
                     check=False)
    assert proc.returncode == 1
    assert ("Field configdrive with target rebuild needs API version 1.35 or later and "
            "this request asked for 1.34; send X-OpenStack-Ironic-API-Version: 1.35 "
            "(baremetal --os-baremetal-api-version 1.35), or rebuild without configdrive "
            "to keep the node's. (HTTP 400)" in proc.stderr), proc.stderr
    # From 1.35 the request goes on to the node's state (enroll: nothing to rebuild);
    # a config drive given as its URL (as a JSON object, it needs 1.56).
    proc = baremetal(server, "--os-baremetal-api-version", "1.35", "node", "rebuild",
                     "rb-old", "--config-drive", "http://192.0.2.1/cd.iso.gz",
                     check=False)
    assert proc.returncode == 1 and "API version" not in proc.stderr, proc.stderr
    # The hwdrivers CLI sends a version that allows it.
    proc = hwdrivers(server, "node", "rebuild", "rb-old", "--config-drive",
                     '{"meta_data": {"hostname": "x"}}', check=False)
    assert proc.returncode == 1 and "API version" not in proc.stderr, proc.stderr
    assert "rebuild" in proc.stderr, proc.stderr
