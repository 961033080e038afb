"""Root device hints the agent cannot parse are refused by the deploy, before power-on.

Ironic's ``direct`` deploy validates the hints the agent will use
(``instance_info.root_device``, else ``properties.root_device``). Ours did
not: ``{"size": "big"}`` or ``{"rotational": "maybe"}`` powered the machine
on, booted the ramdisk, and failed in ``write_image`` with the agent's
DeviceNotFound. Now the deploy request is a 400 naming the field, and the
node and machine are untouched.
"""

import json

import pytest

from tests.functional import deploy_env

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with deploy_env.running(tmp_path_factory.mktemp("bb-prov9-hints")) as environment:
        yield environment


def _node(env, name, properties=None, hints=None):
    url, digest, _ = env.add_image("%s.img" % name, size=4 * MiB)
    info = {"image_source": url, "image_os_hash_algo": "sha256", "image_os_hash_value": digest}
    if hints is not None:
        info["root_device"] = hints
    machine, _ = env.add_machine(name, instance_info=info)
    if properties is not None:
        status, body = env.call("PATCH", "/v1/nodes/%s" % name, [
            {"op": "add", "path": "/properties/root_device", "value": properties}])
        assert status == 200, body
    env.make_available(name)
    return machine


@pytest.mark.parametrize("name,properties,hints,words", [
    ("h-size", {"size": "big"}, None, ["properties root_device", "'size' must be"]),
    ("h-rota", {"serial": "S1"}, {"rotational": "maybe"},
     ["instance_info root_device", "'rotational' must be a boolean"]),
    ("h-name", {"colour": "red"}, None, ["properties root_device", "unknown", "colour"]),
])
def test_a_hint_the_agent_would_refuse_fails_the_request(env, name, properties, hints, words):
    machine = _node(env, name, properties, hints)
    status, body = env.call("PUT", "/v1/nodes/%s/states/provision" % name,
                            {"target": "active"})
    assert status == 400, body
    fault = json.loads(body["error_message"])["faultstring"]
    for word in words:
        assert word in fault, fault
    node = env.node(name)
    assert node["provision_state"] == "available" and node["last_error"] is None
    assert machine.power == "off"


def test_the_deploys_own_hints_win_so_bad_node_hints_under_them_pass_validation(env):
    _node(env, "h-own", {"size": "big"}, {"size": ">= 1"})
    status, body = env.call("GET", "/v1/nodes/h-own/validate")
    assert status == 200, body
    assert body["deploy"]["result"] is True, body["deploy"]
