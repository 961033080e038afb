"""A process that does not enable a node's hardware type computes its ring key
differently from the conductors that drive it.

Since b85b273 conductors of one group may enable different hardware types
(doc/scale-out.md, hash_ring.py: "some with ipmi only, one updated before
the others"). A node's ring key is composed with the *local* driver
registry (hash_ring.node_key): an ipmi node is keyed by its BMC
(``controller:ipmi:<address>:<port>``) where ipmi is enabled, and by its
UUID (``node:<uuid>``) where it is not. So:

- an ``hwdrivers-api`` whose ``enabled_hardware_types`` lacks ipmi routes an
  ipmi node's actions to the conductor owning its *UUID*, which runs them
  (the receiving conductor does not check that it owns the node), while the
  power sync and the other API processes use the BMC's owner: two conductors
  then talk to one BMC, and the node's ``conductor`` field differs by API
  process;
- ``hwdrivers conductor list`` run with the config file of a conductor that
  lacks ipmi counts ipmi nodes on the UUID ring.

Real processes on PostgreSQL: c1 (fake-hardware), c2 and c3 (fake-hardware
and ipmi), an API with both types and one with fake-hardware only; one ipmi
node on a pyghmi fake BMC, chosen so that its BMC and its UUID have
different owners.
"""

import json
import os
import subprocess

import pytest

from hwdrivers.conductor import hash_ring
from tests.fixtures.ipmi_bmc import IPMITOOL, start_fake_bmcs
from tests.functional import scale_cluster
from tests.functional.scale_cluster import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(IPMITOOL, os.X_OK), reason="ipmitool is not installed"),
]

BOTH = "fake-hardware,ipmi"
IPMI_HOSTS = ["c2", "c3"]


def _extra(types):
    return {"DEFAULT": {"enabled_hardware_types": types},
            "ipmi": {"timeout": 1, "retries": 1, "command_retry_timeout": 0}}


@pytest.fixture(scope="module")
def bmcs():
    pytest.importorskip("pyghmi")
    with start_fake_bmcs(1) as fake:
        yield fake


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path_factory.mktemp("ring11m"), _postgresql)
    try:
        cluster.add_conductor("c1", _extra("fake-hardware"))
        for name in IPMI_HOSTS:
            cluster.add_conductor(name, _extra(BOTH))
        cluster.add_api("full", _extra(BOTH))
        cluster.add_api("lean", _extra("fake-hardware"))
        cluster.wait_live(["c1"] + IPMI_HOSTS)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def node(cluster, bmcs):
    """An ipmi node whose BMC key and UUID key have different owners; with
    ``owner`` (the BMC's, what drives it) and ``uuid_owner``."""
    full = cluster.apis[0]
    ring = hash_ring.Ring(IPMI_HOSTS)
    info = bmcs.driver_info(0)
    owner = ring.owner("controller:ipmi:%s:%s" % (info["ipmi_address"], info["ipmi_port"]))
    for index in range(50):
        status, doc = full.call("POST", "/v1/nodes", {
            "driver": "ipmi", "name": "m%d" % index, "driver_info": info,
            "deploy_interface": "noop", "boot_interface": "noop"})
        assert status == 201, doc
        if ring.owner("node:%s" % doc["uuid"]) != owner:
            return dict(doc, owner=owner, uuid_owner=ring.owner("node:%s" % doc["uuid"]))
        assert full.call("DELETE", "/v1/nodes/%s" % doc["uuid"])[0] == 204
    raise AssertionError("no node whose UUID and BMC have different owners")


def test_the_full_api_routes_by_the_bmc(cluster, node):
    """The control: an API enabling ipmi agrees with the conductors."""
    full = cluster.apis[0]
    assert full.call("GET", "/v1/nodes/%s" % node["uuid"])[1]["conductor"] == node["owner"]
    status, body = full.call("PUT", "/v1/nodes/%s/states/power" % node["uuid"],
                             {"target": "power on"})
    assert status == 202, body
    wait_for(lambda: node["uuid"] in cluster.conductors[node["owner"]].rpc_calls(
        "change_power_state"), 30, "the power call on %s" % node["owner"], cluster.logs)
    docs = full.call("GET", "/v1/conductors")[1]["conductors"]
    assert {d["hostname"]: d["owned_nodes"] for d in docs} == {
        "c1": 0, node["owner"]: 1, node["uuid_owner"]: 0}


def test_an_api_without_the_type_does_not_act_through_another_conductor(cluster, node):
    lean = cluster.apis[1]
    status, body = lean.call("PUT", "/v1/nodes/%s/states/power" % node["uuid"],
                             {"target": "power off"})
    # Refused, naming what to fix, rather than sent to its UUID's owner.
    assert status == 503, (status, body)
    assert "does not enable hardware type ipmi" in str(body), body
    wrong = cluster.conductors[node["uuid_owner"]]
    view = lean.call("GET", "/v1/nodes/%s" % node["uuid"])[1]["conductor"]
    assert (node["uuid"] not in wrong.rpc_calls("change_power_state")
            and view in (None, node["owner"])), (status, body, view)


def test_conductor_list_from_a_conductor_without_the_type(cluster, node):
    cli = os.path.join(scale_cluster.BIN, "hwdrivers")
    result = subprocess.run(
        [cli, "--config-file", str(cluster.conductors["c1"].config_path), "conductor",
         "list", "-f", "json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # It cannot key the ipmi node as the conductors do: it leaves it out and says
    # so, rather than counting it on its UUID's owner.
    assert {r["hostname"]: r["owned_nodes"] for r in json.loads(result.stdout)} == {
        "c1": 0, node["owner"]: 0, node["uuid_owner"]: 0}
    assert "leaves out 1 node(s) of hardware type ipmi" in result.stderr, result.stderr
