"""Microversion-gated fields, deep JSON patch paths and a deleted marker, as
Ironic's own clients meet them against the real ``hwdrivers-server``.

Ironic hides the fields newer than the version a client asks for and
refuses (406) setting or selecting one; applies patch paths at any depth
in the object fields; and answers a listing's marker that names no node
with the node's 404.
"""

import json

import openstack
import pytest

from tests.functional import server_proc
from tests.functional.ironic_clients import baremetal, sdk


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bb-compat3")
    with server_proc.running(tmp_path, name="compat3") as proc:
        proc.home = tmp_path / "home"
        yield proc


def _json(proc):
    return json.loads(proc.stdout)


def test_baremetal_cli_at_an_older_version(server):
    baremetal(server, "node", "create", "--driver", "fake-hardware", "--name", "c3-mv",
              "--conductor-group", "rack1")
    old = ("--os-baremetal-api-version", "1.45")
    shown = _json(baremetal(server, *old, "node", "show", "c3-mv", "-f", "json"))
    assert "conductor_group" not in shown and "owner" not in shown and "fault" in shown
    latest = _json(baremetal(server, "node", "show", "c3-mv", "-f", "json"))
    assert latest["conductor_group"] == "rack1"

    # ironicclient takes any 406 for a version problem and words it itself, as
    # it does against Ironic (our message names the field: tests/api).
    unsupported = "the requested operation is not supported by the requested version"
    proc = baremetal(server, *old, "node", "set", "c3-mv", "--conductor-group", "rack2",
                     check=False)
    assert proc.returncode != 0
    assert unsupported in " ".join(proc.stderr.split()), proc.stderr
    proc = baremetal(server, *old, "node", "list", "--fields", "uuid", "conductor_group",
                     check=False)
    assert proc.returncode != 0
    assert unsupported in " ".join(proc.stderr.split()), proc.stderr
    assert _json(baremetal(server, "node", "show", "c3-mv", "-f", "json"))[
        "conductor_group"] == "rack1"


def test_deep_patch_paths_from_both_clients(server):
    baremetal(server, "node", "create", "--driver", "fake-hardware", "--name", "c3-deep",
              "--extra", 'switch={"port": "1"}')
    baremetal(server, "node", "set", "c3-deep", "--extra", "switch/vlan=10")
    baremetal(server, "node", "unset", "c3-deep", "--extra", "switch/port")
    shown = _json(baremetal(server, "node", "show", "c3-deep", "-f", "json", "-c", "extra"))
    assert shown["extra"] == {"switch": {"vlan": 10}}
    proc = baremetal(server, "node", "set", "c3-deep", "--extra", "nope/x=1", check=False)
    assert proc.returncode != 0 and "/extra/nope does not exist" in proc.stderr, proc.stderr

    bm = sdk(server).baremetal
    node = bm.get_node("c3-deep")
    bm.patch_node(node, [
        {"op": "add", "path": "/instance_info/image_properties", "value": {"os": "a"}},
        {"op": "add", "path": "/instance_info/image_properties/arch", "value": "x86_64"},
        {"op": "add", "path": "/extra/switch/tags", "value": ["t1"]},
        {"op": "add", "path": "/extra/switch/tags/-", "value": "t2"}])
    node = bm.get_node("c3-deep")
    assert node.instance_info == {"image_properties": {"os": "a", "arch": "x86_64"}}
    assert node.extra == {"switch": {"vlan": 10, "tags": ["t1", "t2"]}}


def test_deleted_marker_is_404_for_both_clients(server):
    for i in range(3):
        baremetal(server, "node", "create", "--driver", "fake-hardware", "--name",
                  "c3-page%d" % i)
    gone = _json(baremetal(server, "node", "show", "c3-page1", "-f", "json"))["uuid"]
    baremetal(server, "node", "delete", "c3-page1")
    proc = baremetal(server, "node", "list", "--marker", gone, check=False)
    assert proc.returncode != 0
    assert "Node %s could not be found" % gone in proc.stderr, proc.stderr
    assert "(HTTP 404)" in proc.stderr, proc.stderr
    bm = sdk(server).baremetal
    with pytest.raises(openstack.exceptions.NotFoundException):
        list(bm.nodes(marker=gone))
