"""A JSON config drive given only user_data gets meta_data with the node's uuid and name.

As Ironic builds one: without it the drive had no ``meta_data.json``, which
cloud-init's config drive source needs, and the instance came up
unconfigured. Through the API, on a fake-hardware node, read back from the
database as the agent would receive it.
"""

import base64
import gzip
import json

import pytest

from hwdrivers.drivers.modules import configdrive
from tests.api.conftest import row
from tests.waits import wait_for


def _settled(name, state):
    return lambda: row(name)["provision_state"] == state and row(name)["reservation"] is None


def _available(api, make_node, name):
    node = make_node(name)
    for target, state in (("manage", "manageable"), ("provide", "available")):
        assert api.put("/v1/nodes/%s/states/provision" % name,
                       {"target": target}).status_code == 202
        wait_for(_settled(name, state))
    return node


def _meta_data(name):
    blob = row(name)["instance_info"]["configdrive"]
    files = configdrive.read_iso(gzip.decompress(base64.b64decode(blob)))
    return json.loads(files["openstack/latest/meta_data.json"]), files


@pytest.mark.parametrize("drive, expected", [
    ({"user_data": "#cloud-config\n"}, {}),
    ({"meta_data": {"hostname": "web1"}, "user_data": "#cloud-config\n"},
     {"hostname": "web1"}),
    ({"meta_data": {"uuid": "mine", "name": "theirs"}}, {"uuid": "mine", "name": "theirs"}),
])
def test_meta_data_defaults_to_the_nodes_uuid_and_name(api, make_node, drive, expected):
    node = _available(api, make_node, "cd1")
    assert api.put("/v1/nodes/cd1/states/provision",
                   {"target": "active", "configdrive": drive}).status_code == 202
    wait_for(_settled("cd1", "active"))
    meta, files = _meta_data("cd1")
    assert meta == dict({"uuid": node["uuid"], "name": "cd1"}, **expected)
    if "user_data" in drive:
        assert files["openstack/latest/user_data"] == b"#cloud-config\n"
