"""Per-hardware-type hash rings (b85b273) with real conductor and API processes.

Three ``hwdrivers-conductor`` processes in one conductor group on
PostgreSQL, enabling different hardware types: c1 ``fake-hardware`` only,
c2 and c3 ``fake-hardware`` and ``ipmi``; one ``hwdrivers-api``. The ipmi
nodes are driven by ipmitool against pyghmi fake BMCs (one per node, so
each node is its own controller). A node must be owned, on the ring of its
group's conductors that enable its type, by exactly one of them: routing,
the ``conductor`` field, ``owned_nodes`` and the power sync must all agree,
and a type no live conductor enables is refused with 503 naming it.

One cluster serves the module, in order: the first two tests keep every
conductor alive; the third kills c2 and c3 in turn.
"""

import json
import os
import signal
import subprocess
import uuid as uuid_mod

import pytest

from hwdrivers.conductor import hash_ring
from tests.fixtures.ipmi_bmc import IPMITOOL, start_fake_bmcs
from tests.functional import scale_cluster
from tests.functional.scale_cluster import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.access(IPMITOOL, os.X_OK), reason="ipmitool is not installed"),
]

FAKE_COUNT, IPMI_COUNT = 9, 5
NODE_UUIDS = uuid_mod.UUID("0b8f6a52-11c4-4d0e-9a3b-7be2c1d4e611")
BOTH = "fake-hardware,ipmi"
TYPES = {"c1": "fake-hardware", "c2": BOTH, "c3": BOTH}
#: ipmitool against local fake BMCs: short timeouts, one try.
IPMI = {"timeout": 1, "retries": 1, "command_retry_timeout": 0}


def _extra(types):
    return {"DEFAULT": {"enabled_hardware_types": types}, "ipmi": dict(IPMI)}


@pytest.fixture(scope="module")
def bmcs():
    pytest.importorskip("pyghmi")
    with start_fake_bmcs(IPMI_COUNT) as fake:
        yield fake


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path_factory.mktemp("ring11"), _postgresql)
    try:
        for name, types in TYPES.items():
            cluster.add_conductor(name, _extra(types))
        cluster.add_api("api1", _extra(BOTH))
        cluster.wait_live(list(TYPES))
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def nodes(cluster, bmcs):
    api = cluster.apis[0]
    made = []
    for index in range(FAKE_COUNT + IPMI_COUNT):
        name = "r%02d" % index
        body = {"name": name, "uuid": str(uuid_mod.uuid5(NODE_UUIDS, name))}
        if index < FAKE_COUNT:
            body.update(driver="fake-hardware")
        else:
            body.update(driver="ipmi", driver_info=bmcs.driver_info(index - FAKE_COUNT),
                        deploy_interface="noop", boot_interface="noop")
        status, doc = api.call("POST", "/v1/nodes", body)
        assert status == 201, doc
        made.append(doc)
    return made


def ring_key(node):
    """The ring key conductor/hash_ring.py gives a fake-hardware or ipmi node."""
    if node["driver"] == "ipmi":
        info = node["driver_info"]
        return "controller:ipmi:%s:%s" % (info["ipmi_address"].lower(), info["ipmi_port"])
    return scale_cluster.ring_key(node)


def owners(nodes, types):
    """``{uuid: host}``: each node on the ring of the live hosts enabling its type
    (``types``: ``{host: "type,type"}``); None when no host enables it."""
    found = {}
    for node in nodes:
        hosts = [h for h, enabled in types.items() if node["driver"] in enabled.split(",")]
        found[node["uuid"]] = hash_ring.Ring(hosts).owner(ring_key(node)) if hosts else None
    return found


def _power(cluster, node, target):
    return cluster.apis[0].call("PUT", "/v1/nodes/%s/states/power" % node["uuid"],
                                {"target": target})


def _wait_power(cluster, uuids, state, timeout=60):
    def done():
        rows = cluster.rows("SELECT uuid, power_state, target_power_state FROM nodes")
        return all(r["power_state"] == state and r["target_power_state"] is None
                   for r in rows if r["uuid"] in uuids)
    wait_for(done, timeout, "nodes %s" % state, cluster.logs)


def _routed(cluster, method="change_power_state"):
    """``{uuid: [conductors that received method for it]}`` from their logs."""
    seen = {}
    for name, proc in cluster.conductors.items():
        for uuid in proc.rpc_calls(method):
            seen.setdefault(uuid, []).append(name)
    return seen


def _new_routes(cluster, before):
    """``{uuid: [conductors]}`` of the calls received since ``_routed()`` was ``before``."""
    new = {}
    for uuid, hosts in _routed(cluster).items():
        rest = list(hosts)
        for host in before.get(uuid, []):
            rest.remove(host)
        if rest:
            new[uuid] = sorted(rest)
    return new


def _conductor_docs(cluster):
    status, body = cluster.apis[0].call("GET", "/v1/conductors")
    assert status == 200, body
    return {d["hostname"]: d for d in body["conductors"]}


def _views(cluster):
    status, body = cluster.apis[0].call("GET", "/v1/nodes/detail")
    assert status == 200, body
    return {n["uuid"]: n["conductor"] for n in body["nodes"]}


def _sync_partition(cluster, expected, hosts, total):
    """Two fresh power-sync cycles on each of ``hosts``: each reads exactly its nodes."""
    marks = {h: len(cluster.conductors[h].sync_cycles()) for h in hosts}
    for host in hosts:
        proc = cluster.conductors[host]
        wait_for(lambda p=proc, h=host: len(p.sync_cycles()) >= marks[h] + 2, 60,
                 "two power-sync cycles on %s" % host, cluster.logs)
    for host in hosts:
        mine = list(expected.values()).count(host)
        for stats in cluster.conductors[host].sync_cycles()[marks[host]:]:
            assert (stats["nodes"], stats["nodes"] + stats["not_owned"]) == (mine, total), (
                host, stats)
            assert stats["failed"] == 0, (host, stats)


def test_nodes_go_to_conductors_enabling_their_type(cluster, nodes):
    expected = owners(nodes, TYPES)
    fake = {n["uuid"] for n in nodes if n["driver"] == "fake-hardware"}
    ipmi = {n["uuid"] for n in nodes if n["driver"] == "ipmi"}
    assert {expected[u] for u in fake} == {"c1", "c2", "c3"}  # the NODE_UUIDS spread
    assert {expected[u] for u in ipmi} <= {"c2", "c3"}

    # The conductor field of every view, and the ?conductor= filter.
    assert _views(cluster) == expected
    for host in TYPES:
        status, body = cluster.apis[0].call("GET", "/v1/nodes?conductor=%s" % host)
        assert status == 200, body
        assert {n["uuid"] for n in body["nodes"]} == {
            u for u, h in expected.items() if h == host}
    # Power actions run on the owner, and only there.
    for node in nodes:
        status, body = _power(cluster, node, "power on")
        assert status == 202, body
    _wait_power(cluster, fake | ipmi, "power on")
    assert _routed(cluster) == {u: [h] for u, h in expected.items()}
    assert {u for u, rows in _routed(cluster).items() if "c1" in rows}.isdisjoint(ipmi)
    # owned_nodes: what each owns, summing to the fleet, over the API and the CLI.
    counts = {h: list(expected.values()).count(h) for h in TYPES}
    docs = _conductor_docs(cluster)
    assert {h: d["owned_nodes"] for h, d in docs.items()} == counts
    for host, types in TYPES.items():
        status, doc = cluster.apis[0].call("GET", "/v1/conductors/%s" % host)
        assert status == 200 and sorted(doc["drivers"]) == sorted(types.split(",")), doc
    cli = os.path.join(scale_cluster.BIN, "hwdrivers")
    result = subprocess.run([cli, "--url", cluster.apis[0].url, "conductor", "list",
                             "-f", "json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert {r["hostname"]: r["owned_nodes"] for r in json.loads(result.stdout)} == counts
    # The power sync: each node read by its owner alone, every node by one.
    _sync_partition(cluster, expected, list(TYPES), len(nodes))


def test_patching_the_driver_moves_the_node(cluster, nodes, bmcs):
    # A fake-hardware node c1 owns becomes an ipmi node: c1 cannot drive it.
    node = next(n for n in nodes if owners([n], TYPES)[n["uuid"]] == "c1")
    api = cluster.apis[0]
    info = bmcs.driver_info(0)
    status, body = api.call("PATCH", "/v1/nodes/%s" % node["uuid"], [
        {"op": "replace", "path": "/driver", "value": "ipmi"},
        {"op": "add", "path": "/driver_info", "value": info},
        {"op": "replace", "path": "/deploy_interface", "value": "noop"},
        {"op": "replace", "path": "/boot_interface", "value": "noop"}])
    try:
        assert status == 200, body
        moved = dict(node, driver="ipmi", driver_info=info)
        heir = owners([moved], TYPES)[node["uuid"]]
        assert heir in ("c2", "c3")
        assert body["conductor"] == heir
        assert _views(cluster)[node["uuid"]] == heir
        before = _routed(cluster)
        assert _power(cluster, node, "power off")[0] == 202
        _wait_power(cluster, {node["uuid"]}, "power off")
        assert _new_routes(cluster, before) == {node["uuid"]: [heir]}
        now = owners([moved if n["uuid"] == node["uuid"] else n for n in nodes], TYPES)
        assert {h: d["owned_nodes"] for h, d in _conductor_docs(cluster).items()} == {
            h: list(now.values()).count(h) for h in TYPES}
    finally:
        status, body = api.call("PATCH", "/v1/nodes/%s" % node["uuid"], [
            {"op": "replace", "path": "/driver", "value": "fake-hardware"},
            {"op": "remove", "path": "/driver_info"},
            {"op": "remove", "path": "/deploy_interface"},
            {"op": "remove", "path": "/boot_interface"}])
        assert status == 200, body
    assert _views(cluster)[node["uuid"]] == "c1"


def test_take_over_and_the_last_conductor_of_a_type_dying(cluster, nodes):
    api = cluster.apis[0]
    ipmi = [n for n in nodes if n["driver"] == "ipmi"]
    fake = [n for n in nodes if n["driver"] == "fake-hardware"]
    expected = owners(nodes, TYPES)
    # The conductor that owns the first ipmi node dies; its ipmi nodes deployed
    # (active, and wait call-back when it has a second) must go to the other
    # ipmi conductor, never to c1.
    victim = expected[ipmi[0]["uuid"]]
    survivor = "c3" if victim == "c2" else "c2"
    deployed = [n for n in ipmi if expected[n["uuid"]] == victim][:2]
    states = ["active", "wait call-back"][:len(deployed)]
    fake_deployed = next((n for n in fake if expected[n["uuid"]] == victim), None)
    with cluster.engine.begin() as conn:
        for node, state in zip(deployed, states):
            conn.exec_driver_sql("UPDATE nodes SET provision_state = '%s' WHERE uuid = '%s'"
                                 % (state, node["uuid"]))
        if fake_deployed is not None:
            conn.exec_driver_sql("UPDATE nodes SET provision_state = 'active' WHERE uuid "
                                 "= '%s'" % fake_deployed["uuid"])
    cluster.conductors[victim].signal(signal.SIGKILL)
    cluster.wait_live(["c1", survivor])
    alive = {h: TYPES[h] for h in ("c1", survivor)}
    after = owners(nodes, alive)
    assert all(after[n["uuid"]] == survivor for n in ipmi)
    heir = cluster.conductors[survivor]
    for node, state in zip(deployed, states):
        wait_for(lambda n=node, s=state: "Node %s (%s): taken over from conductor %s"
                 % (n["name"], s, victim) in heir.log(), 30,
                 "%s taking over %s" % (survivor, node["name"]), cluster.logs)
    if fake_deployed is not None:
        fake_heir = cluster.conductors[after[fake_deployed["uuid"]]]
        wait_for(lambda: "Node %s (active): taken over from conductor %s"
                 % (fake_deployed["name"], victim) in fake_heir.log(), 30,
                 "the take-over of %s" % fake_deployed["name"], cluster.logs)
    c1_log = cluster.conductors["c1"].log()
    assert not any("Node %s (" % n["name"] in c1_log for n in deployed)
    assert _views(cluster) == after
    before = _routed(cluster)
    for node in ipmi:
        assert _power(cluster, node, "power off")[0] == 202
    _wait_power(cluster, {n["uuid"] for n in ipmi}, "power off")
    assert _new_routes(cluster, before) == {n["uuid"]: [survivor] for n in ipmi}

    # Then the last conductor enabling ipmi dies: its nodes are refused with
    # the 503 naming the group, the type and each live conductor's types;
    # fake-hardware nodes go on working on c1.
    heir.signal(signal.SIGKILL)
    cluster.wait_live(["c1"])
    for node in ipmi:
        status, body = _power(cluster, node, "power on")
        assert status == 503, body
        message = body["error_message"]
        assert ("No live conductor of conductor group '' enables hardware type ipmi, "
                "which node %s uses" % node["name"]) in message, message
        assert "c1 (fake-hardware)" in message, message
        row = cluster.node(node["uuid"])
        assert (row["power_state"], row["target_power_state"]) == ("power off", None)
    only = owners(nodes, {"c1": TYPES["c1"]})
    assert _views(cluster) == only
    assert all(only[n["uuid"]] is None for n in ipmi)
    before = _routed(cluster)
    for node in fake:
        assert _power(cluster, node, "power off")[0] == 202
    _wait_power(cluster, {n["uuid"] for n in fake}, "power off")
    assert _new_routes(cluster, before) == {n["uuid"]: ["c1"] for n in fake}
    docs = _conductor_docs(cluster)
    assert {h: (d["alive"], d["owned_nodes"]) for h, d in docs.items()} == {
        "c1": (True, len(fake)), "c2": (False, 0), "c3": (False, 0)}
    _sync_partition(cluster, only, ["c1"], len(nodes))
    status, body = api.call("GET", "/v1/nodes/%s" % ipmi[0]["uuid"])
    assert status == 200 and body["conductor"] is None

    # c1 restarted with ipmi enabled takes the ipmi nodes.
    c1 = cluster.conductors["c1"]
    c1.stop()
    del cluster.conductors["c1"]
    c1 = cluster.add_conductor("c1", _extra(BOTH))
    cluster.wait_live(["c1"])
    assert _conductor_docs(cluster)["c1"]["owned_nodes"] == len(nodes)
    assert set(_views(cluster).values()) == {"c1"}
    for node in ipmi:
        wait_for(lambda n=node: _power(cluster, n, "power on")[0] == 202, 30,
                 "c1 taking %s" % node["name"], cluster.logs)
    _wait_power(cluster, {n["uuid"] for n in ipmi}, "power on")
    assert all(n["uuid"] in c1.rpc_calls("change_power_state") for n in ipmi)
