"""Node PATCH as Ironic's clients send it, against the real ``hwdrivers-server``.

``baremetal node set/unset`` and hand-written JSON patches: operations
apply in order as RFC 6902 says, ``unset`` of the fields Ironic has and
hwdrivers does not store is accepted (nothing to remove), and setting one
says why it cannot be.
"""

import json

import openstack
import pytest

from tests.functional import server_proc
from tests.functional.ironic_clients import baremetal
from tests.waits import wait_for



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bb-compat-patch")
    with server_proc.running(tmp_path, name="patch") as proc:
        proc.home = tmp_path / "home"
        yield proc


def _show(server, name, *fields):
    args = ["node", "show", name, "-f", "json"]
    for field in fields:
        args += ["-c", field]
    return json.loads(baremetal(server, *args).stdout)


def test_unset_of_ironic_fields_and_conductor_group(server):
    """``node unset --conductor-group`` was a 400 ("cannot be unset"), as was
    ``--owner``/``--resource-class``... ("read-only field": they are not)."""
    baremetal(server, "node", "create", "--driver", "fake-hardware", "--name", "u1",
              "--conductor-group", "Rack7")
    assert _show(server, "u1", "conductor_group") == {"conductor_group": "rack7"}
    baremetal(server, "node", "unset", "u1", "--conductor-group", "--owner",
              "--resource-class", "--lessee", "--description", "--retired",
              "--protected", "--instance-uuid", "--network-data")
    node = _show(server, "u1")
    assert node["conductor_group"] == ""
    assert node["owner"] is None and node["resource_class"] is None

    # Create takes them as what every node shows (null, false), as PATCH does.
    status, body = server.call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "u2", "resource_class": None, "owner": None,
        "retired": False, "traits": []})
    assert status == 201, body
    status, body = server.call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "u3", "resource_class": "baremetal"})
    assert status == 400
    assert "resource_class are not supported by hwdrivers" in body["error_message"]
    status, body = server.call("POST", "/v1/ports", {
        "address": "52:54:00:00:20:01", "node_uuid": "u2", "is_smartnic": False,
        "local_link_connection": {}, "physical_network": None})
    assert status == 201, body

    proc = baremetal(server, "node", "set", "u1", "--resource-class", "baremetal",
                     check=False)
    assert proc.returncode == 1
    assert ("Patch operation 0: hwdrivers does not store /resource_class (always null), "
            "so it cannot be set; leave it out of the patch (HTTP 400)"
            in proc.stderr), proc.stderr


def test_operations_apply_in_order(server):
    status, node = server.call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "o1", "extra": {"old": 1}})
    assert status == 201, node

    def patch(*ops):
        return server.call("PATCH", "/v1/nodes/o1", list(ops))

    # A key added then removed in one patch: was a 400 (no such key stored).
    status, body = patch({"op": "add", "path": "/instance_info/image_source", "value": "x"},
                         {"op": "remove", "path": "/instance_info/image_source"})
    assert status == 200, body
    assert body["instance_info"] == {}
    # The object replaced after its key was set: the later add used to be lost.
    status, body = patch({"op": "add", "path": "/extra/a", "value": 1},
                         {"op": "replace", "path": "/extra", "value": {}},
                         {"op": "add", "path": "/extra/a", "value": 2})
    assert status == 200, body
    assert body["extra"] == {"a": 2}
    # The object removed, then a key added: the removal used to win.
    status, body = patch({"op": "remove", "path": "/extra"},
                         {"op": "add", "path": "/extra/b", "value": 3})
    assert status == 200, body
    assert body["extra"] == {"b": 3}
    # A key neither stored nor added is still refused, and nothing changes.
    status, body = patch({"op": "add", "path": "/extra/c", "value": 4},
                         {"op": "remove", "path": "/extra/missing"})
    assert status == 400
    assert "extra has no key missing" in json.loads(body["error_message"])["faultstring"]
    assert server.call("GET", "/v1/nodes/o1")[1]["extra"] == {"b": 3}


SECRET = "Relay-Token-7731"


def test_secret_written_back_masked_keeps_the_stored_one(tmp_path):
    """A script's read-modify-write of driver_info (GET the node, change a
    key, ``replace /driver_info``) sends the ``******`` it was shown: it used
    to become the node's secret (every BMC password of a fleet updated this
    way, silently replaced by six asterisks)."""
    seen = tmp_path / "seen"
    options = {
        "DEFAULT": {"enabled_hardware_types": "command,fake-hardware",
                    "enabled_power_interfaces": "command,fake",
                    "enabled_management_interfaces": "noop,fake"},
        "command": {"allow_local_commands": "true"},
        "command_profile:relay": {
            "power_on": 'printf %s "$$HWDRIVERS_COMMAND_SECRET" > {seen}',
            "power_off": "true", "power_status": "echo on"},
    }
    with server_proc.running(tmp_path, name="secrets", options=options) as server:
        server.home = tmp_path / "home"
        baremetal(server, "node", "create", "--driver", "command", "--name", "c1",
                  "--driver-info", "command_profile=relay",
                  "--driver-info", "seen=%s" % (tmp_path / "old"),
                  "--driver-info", "command_secret=%s" % SECRET)
        info = server.call("GET", "/v1/nodes/c1")[1]["driver_info"]
        assert info["command_secret"] == "******"
        info["seen"] = str(seen)
        status, node = server.call("PATCH", "/v1/nodes/c1", [
            {"op": "replace", "path": "/driver_info", "value": info}])
        assert status == 200, node
        assert node["driver_info"] == {"command_profile": "relay", "seen": str(seen),
                                       "command_secret": "******"}
        conn = openstack.connect(auth_type="none", baremetal_endpoint_override=server.url)
        baremetal(server, "node", "power", "on", "c1")
        wait_for(lambda: conn.baremetal.get_node("c1").power_state == "power on",
                 timeout=60, interval=0.1, message="c1 powered on")
        assert seen.read_text() == SECRET

        # Where no secret is stored, the mask is refused, naming the key.
        proc = baremetal(server, "node", "create", "--driver", "fake-hardware",
                         "--driver-info", "fake_password=******", check=False)
        assert proc.returncode == 1
        assert ("Field driver_info/fake_password is ******, the mask shown in place of "
                "secrets, and the node has no secret stored there to keep; send the real "
                "value. (HTTP 400)" in proc.stderr), proc.stderr
        assert SECRET not in server.log()


def test_refused_address_with_credentials_does_not_echo_the_password(server):
    """An address typed with ``user:password@`` that the field refuses was
    echoed whole in the 400 (the field is not secret, its password is)."""
    for driver, field, value in (
            ("ipmi", "ipmi_address", "admin:Pw-In-Address-1@10.0.0.1"),
            ("redfish", "redfish_address", "ht!tp://admin:Pw-In-Address-1@10.0.0.1")):
        proc = baremetal(server, "node", "create", "--driver", driver,
                         "--driver-info", "%s=%s" % (field, value), check=False)
        assert proc.returncode == 1
        assert "(HTTP 400)" in proc.stderr and "admin:******@10.0.0.1" in proc.stderr, \
            proc.stderr
        assert "Pw-In-Address-1" not in proc.stderr
    assert "Pw-In-Address-1" not in server.log()
