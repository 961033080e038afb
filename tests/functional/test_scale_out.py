"""Scale-out (issue 15): 3 conductors and 2 API processes on PostgreSQL, real processes.

One cluster serves the whole module, in order: actions run on the owning
conductor; the power sync reads each node on exactly one conductor per
interval; a fourth conductor joins and takes its share; SIGKILL of that one
mid-operation -> 503 until the others notice, then takeover within
heartbeat_timeout plus a ring refresh; a conductor paused with SIGSTOP past
the timeout cannot act on its old nodes when it wakes (the lease is the
mutex). Every action goes through the REST API of one of the two API
processes, which route it over JSON-RPC.
"""

import json
import os
import signal
import subprocess
import time
import uuid as uuid_mod

import pytest

from tests.functional import scale_cluster
from tests.functional.scale_cluster import owners
from tests.functional.scale_cluster import wait_for

#: Nodes: 24 behind 8 shared controllers (3 each, like PDU outlets), 16 alone.
SHARED, ALONE = 24, 16
#: Node UUIDs are derived from this and the node's name, so who owns what on
#: the ring is the same every run. With random UUIDs, c4 owned nothing but its
#: trio in about one run in a thousand (seen), and the take-over tests had no
#: node to power. With these, c4 owns 8 nodes among c1-c4 and c5 owns 16 among
#: c1, c2, c3 and c5.
NODE_UUIDS = uuid_mod.UUID("5f3c2a4e-8b7d-4e1a-9c6f-2d8e7b1a0c93")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path_factory.mktemp("scale"), _postgresql)
    try:
        cluster.add_conductor("c1")  # the first one migrates the schema
        cluster.add_conductor("c2")
        cluster.add_conductor("c3")
        cluster.add_api("api1")
        cluster.add_api("api2")
        cluster.wait_live(["c1", "c2", "c3"])
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def nodes(cluster):
    api = cluster.apis[0]
    created = []
    for index in range(SHARED + ALONE):
        info = {"fake_controller": "pdu-%d" % (index // 3)} if index < SHARED else {}
        name = "n%02d" % index
        status, doc = api.call("POST", "/v1/nodes", {
            "driver": "fake-hardware", "name": name, "driver_info": info,
            "uuid": str(uuid_mod.uuid5(NODE_UUIDS, name))})
        assert status == 201, doc
        created.append(doc)
    return created


def _api(cluster, index):
    return cluster.apis[index % len(cluster.apis)]


def _power(cluster, node, target, index=0):
    return _api(cluster, index).call("PUT", "/v1/nodes/%s/states/power" % node["uuid"],
                                     {"target": target})


def _wait_power(cluster, uuids, state, timeout=60):
    def done():
        rows = cluster.rows("SELECT uuid, power_state, target_power_state FROM nodes")
        return all(r["power_state"] == state and r["target_power_state"] is None
                   for r in rows if r["uuid"] in uuids)
    wait_for(done, timeout, "nodes %s" % state, cluster.logs)


def _provision(cluster, node, target, wait_state, timeout=60):
    status, body = cluster.apis[0].call(
        "PUT", "/v1/nodes/%s/states/provision" % node["uuid"], {"target": target})
    assert status == 202, body
    wait_for(lambda: cluster.node(node["uuid"])["provision_state"] == wait_state,
             timeout, "%s reaching %s" % (node["name"], wait_state), cluster.logs)


def test_actions_run_on_the_owning_conductor(cluster, nodes):
    expected = owners(nodes, ["c1", "c2", "c3"])
    assert set(expected.values()) == {"c1", "c2", "c3"}  # the ring spreads them
    for index, node in enumerate(nodes):
        status, body = _power(cluster, node, "power on", index)
        assert status == 202, body
    _wait_power(cluster, {n["uuid"] for n in nodes}, "power on")

    ran_on = {}
    for name, proc in cluster.conductors.items():
        for uuid in proc.rpc_calls("change_power_state"):
            assert uuid not in ran_on, "%s ran on %s and %s" % (uuid, ran_on[uuid], name)
            ran_on[uuid] = name
    assert ran_on == expected
    status, body = cluster.apis[1].call("GET", "/v1/nodes/detail")
    assert {n["uuid"]: n["conductor"] for n in body["nodes"]} == expected
    # Nodes behind one controller all went to one conductor.
    by_controller = {}
    for node in nodes[:SHARED]:
        by_controller.setdefault(node["driver_info"]["fake_controller"], set()).add(
            ran_on[node["uuid"]])
    assert all(len(hosts) == 1 for hosts in by_controller.values())

    status, body = cluster.apis[1].call("GET", "/v1/conductors")
    assert status == 200
    docs = {d["hostname"]: d for d in body["conductors"]}
    counts = {host: list(expected.values()).count(host) for host in ("c1", "c2", "c3")}
    assert {h: (d["alive"], d["owned_nodes"], d["conductor_group"])
            for h, d in docs.items()} == {h: (True, counts[h], "") for h in counts}


def test_cli_conductor_list(cluster, nodes):
    expected = owners(nodes, ["c1", "c2", "c3"])
    want = [{"hostname": h, "conductor_group": "", "alive": True,
             "owned_nodes": list(expected.values()).count(h)} for h in ("c1", "c2", "c3")]
    cli = os.path.join(scale_cluster.BIN, "hwdrivers")
    for argv in (["--url", cluster.apis[0].url],  # through the API
                 ["--config-file", str(cluster.conductors["c1"].config_path)]):  # the DB
        result = subprocess.run([cli, *argv, "conductor", "list", "-f", "json"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == want


def test_locked_node_is_409(cluster, nodes):
    node = nodes[-1]
    owner = owners([node], ["c1", "c2", "c3"])[node["uuid"]]
    with cluster.engine.begin() as conn:  # another conductor's task holds it
        conn.exec_driver_sql(
            "UPDATE nodes SET reservation = 'elsewhere:x', reservation_expires = "
            "now() at time zone 'utc' + interval '1 hour' WHERE uuid = '%s'" % node["uuid"])
    try:
        status, body = _power(cluster, node, "power off")
        assert status == 409, body
        assert "locked" in body["error_message"]
        assert node["uuid"] in cluster.conductors[owner].rpc_calls("change_power_state")
    finally:
        with cluster.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE nodes SET reservation = NULL, reservation_expires "
                                 "= NULL WHERE uuid = '%s'" % node["uuid"])


def test_power_sync_reads_each_node_once_per_interval(cluster, nodes):
    expected = owners(nodes, ["c1", "c2", "c3"])
    marks = {name: len(p.sync_cycles()) for name, p in cluster.conductors.items()}
    for name, proc in cluster.conductors.items():
        wait_for(lambda p=proc, n=name: len(p.sync_cycles()) >= marks[n] + 2, 60,
                 "two power-sync cycles on %s" % name, cluster.logs)
    for name, proc in cluster.conductors.items():
        mine = list(expected.values()).count(name)
        for stats in proc.sync_cycles()[marks[name]:]:
            # Every node examined once by its owner, and skipped by the others.
            assert stats["nodes"] == mine, (name, stats)
            assert stats["nodes"] + stats["not_owned"] == len(nodes), (name, stats)
            assert stats["failed"] == 0, stats


def test_conductor_groups(cluster, nodes):
    api = cluster.apis[1]
    status, node = api.call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "rack9-a", "conductor_group": "rack9"})
    assert status == 201, node
    assert node["conductor_group"] == "rack9"
    status, body = api.call("PATCH", "/v1/nodes/rack9-a", [
        {"op": "replace", "path": "/conductor_group", "value": "rack 9!"}])
    assert status == 400 and "field conductor_group" in body["error_message"]
    # No conductor serves the group yet: 503, and nothing changed.
    status, body = _power(cluster, node, "power on")
    assert status == 503, body
    assert "No conductor is alive in conductor group 'rack9'" in body["error_message"]
    assert cluster.node(node["uuid"])["target_power_state"] is None

    g9 = cluster.add_conductor("g9", {"conductor": {"conductor_group": "rack9"}})
    try:
        wait_for(lambda: _power(cluster, node, "power on")[0] == 202, 30,
                 "the API seeing group rack9's conductor", cluster.logs)
        _wait_power(cluster, {node["uuid"]}, "power on")
        assert node["uuid"] in g9.rpc_calls("change_power_state")
        for name in ("c1", "c2", "c3"):
            assert node["uuid"] not in cluster.conductors[name].rpc_calls(
                "change_power_state")
        status, body = api.call("GET", "/v1/conductors")
        docs = {d["hostname"]: d for d in body["conductors"]}
        assert (docs["g9"]["conductor_group"], docs["g9"]["owned_nodes"]) == ("rack9", 1)
        assert sum(docs[h]["owned_nodes"] for h in ("c1", "c2", "c3")) == len(nodes)
    finally:
        assert api.call("DELETE", "/v1/nodes/%s" % node["uuid"])[0] == 204
        g9.stop()
        del cluster.conductors["g9"]


def _c4_trio(nodes):
    """The three nodes behind the first shared controller c4 will own."""
    four = owners(nodes[:SHARED], ["c1", "c2", "c3", "c4"])
    first = next(i for i, n in enumerate(nodes[:SHARED]) if four[n["uuid"]] == "c4")
    return nodes[first:first + 3]


def test_fourth_conductor_joins_and_takes_its_share(cluster, nodes):
    # c4 answers slowly: the next test kills it in the middle of its work. The
    # nodes behind one controller will be c4's: two ready to deploy, one deployed.
    trio = _c4_trio(nodes)
    for node in trio:
        _provision(cluster, node, "manage", "manageable")
        _provision(cluster, node, "provide", "available")
    _provision(cluster, trio[2], "active", "active")
    cluster.add_conductor("c4", {"fake": {"power_delay": 30, "deploy_delay": 60}})
    cluster.wait_live(["c1", "c2", "c3", "c4"])
    expected = owners(nodes, ["c1", "c2", "c3", "c4"])
    before = owners(nodes, ["c1", "c2", "c3"])
    moved = [u for u in expected if expected[u] != before[u]]
    assert moved and all(expected[u] == "c4" for u in moved)  # only c4's share moves

    status, body = cluster.apis[0].call("GET", "/v1/conductors")
    docs = {d["hostname"]: d for d in body["conductors"]}
    assert docs["c4"]["alive"] and docs["c4"]["owned_nodes"] == len(moved)
    assert sum(d["owned_nodes"] for d in docs.values()) == len(nodes)


def test_sigkill_takeover(cluster, nodes):
    timing = cluster.timing
    expected = owners(nodes, ["c1", "c2", "c3", "c4"])
    victims = [n for n in nodes if expected[n["uuid"]] == "c4"]
    trio = _c4_trio(nodes)
    deployable, deployed = trio[:2], trio[2]
    assert all(n in victims for n in trio)
    powering = [n for n in victims if n not in trio][:3]
    assert powering, "c4 owns no node to power"
    for node in powering:
        assert _power(cluster, node, "power off")[0] == 202
    for node in deployable:
        status, body = cluster.apis[1].call(
            "PUT", "/v1/nodes/%s/states/provision" % node["uuid"], {"target": "active"})
        assert status == 202, body
    c4 = cluster.conductors["c4"]
    wait_for(lambda: len(c4.rpc_calls("change_power_state")) >= len(powering), 30,
             "c4 taking the power requests", cluster.logs)
    assert all(cluster.node(n["uuid"])["target_power_state"] == "power off"
               for n in powering)

    c4.signal(signal.SIGKILL)
    killed = time.monotonic()
    # The owner is gone and nobody may take its nodes yet: 503, nothing changed.
    status, body = _power(cluster, victims[-1], "power off")
    assert status == 503, body
    assert "does not answer" in body["error_message"]

    def taken_over():
        rows = [cluster.node(n["uuid"]) for n in powering + deployable]
        return all(r["reservation"] is None and r["target_power_state"] is None
                   and r["target_provision_state"] is None for r in rows)
    wait_for(taken_over, 60, "the others taking over c4's nodes", cluster.logs)
    took = time.monotonic() - killed
    bound = (timing["heartbeat_timeout"] + timing["hash_ring_reset_interval"]
             + timing["heartbeat_interval"])
    assert took < bound + 15  # generous: the machine is shared
    for node in powering:
        row = cluster.node(node["uuid"])
        assert "conductor c4 stopped heartbeating" in row["last_error"]
        assert row["power_state"] == "power on"  # c4 never got to act
    for node in deployable:  # their worker died with c4
        row = cluster.node(node["uuid"])
        assert row["provision_state"] == "deploy failed"
        assert "conductor c4 stopped heartbeating" in row["last_error"]
    # The deployed node is adopted by its new owner (deploy.take_over).
    heir = cluster.conductors[owners([deployed], ["c1", "c2", "c3"])[deployed["uuid"]]]
    wait_for(lambda: "Node %s (active): taken over from conductor c4" % deployed["name"]
             in heir.log(), 30,
             "the take-over of %s" % deployed["name"], cluster.logs)
    assert cluster.node(deployed["uuid"])["provision_state"] == "active"

    # Its nodes now run on the survivors.
    cluster.wait_live(["c1", "c2", "c3"])
    now = owners(nodes, ["c1", "c2", "c3"])
    for index, node in enumerate(powering):
        assert _power(cluster, node, "power off", index)[0] == 202
    _wait_power(cluster, {n["uuid"] for n in powering}, "power off")
    for node in powering:
        assert node["uuid"] in cluster.conductors[now[node["uuid"]]].rpc_calls(
            "change_power_state")
    status, body = cluster.apis[0].call("GET", "/v1/conductors")
    docs = {d["hostname"]: d for d in body["conductors"]}
    assert docs["c4"]["alive"] is False and docs["c4"]["owned_nodes"] == 0


def test_paused_conductor_cannot_act_when_it_wakes(cluster, nodes):
    timing = cluster.timing
    c5 = cluster.add_conductor("c5", {"fake": {"power_delay": 4}})
    cluster.wait_live(["c1", "c2", "c3", "c5"])
    expected = owners(nodes, ["c1", "c2", "c3", "c5"])
    node = next(n for n in nodes if expected[n["uuid"]] == "c5")
    state = cluster.node(node["uuid"])["power_state"]  # c5 is asked the opposite
    opposite = {"power on": "power off", "power off": "power on"}[state]
    assert _power(cluster, node, opposite)[0] == 202
    wait_for(lambda: node["uuid"] in c5.rpc_calls("change_power_state"), 30,
             "c5 taking the request", cluster.logs)
    c5.signal(signal.SIGSTOP)  # mid-operation: its worker sleeps in the "BMC"
    try:
        wait_for(lambda: cluster.node(node["uuid"])["reservation"] is None
                 and cluster.node(node["uuid"])["target_power_state"] is None,
                 timing["heartbeat_timeout"] + 30, "c5 presumed dead", cluster.logs)
        cluster.wait_live(["c1", "c2", "c3"])
        # Another conductor acts on it (the state it has) while c5 sleeps.
        assert _power(cluster, node, state)[0] == 202
        _wait_power(cluster, {node["uuid"]}, state)
        after = cluster.node(node["uuid"])
    finally:
        c5.signal(signal.SIGCONT)
    # c5 wakes, rejoins, finishes its change in its worker, and cannot record
    # it: the lease it held was released when it was presumed dead.
    wait_for(lambda: "presumed dead" in c5.log(), 30, "c5 noticing", cluster.logs)
    wait_for(lambda: "expired or was taken over while the task ran" in c5.log(), 40,
             "c5's worker failing on its lost lease", cluster.logs)
    row = cluster.node(node["uuid"])
    assert row["power_state"] == state
    assert row["target_power_state"] is None and row["reservation"] is None
    assert row["last_error"] == after["last_error"]
    assert row["updated_at"] == after["updated_at"]  # nothing written since


@pytest.mark.parametrize("kind", ["api", "conductor"])
def test_sqlite_is_refused_with_the_reason(tmp_path, kind):
    config = tmp_path / "hwdrivers.conf"
    config.write_text("[DEFAULT]\nstate_path = %s\n[database]\nconnection = sqlite:///%s\n"
                      % (tmp_path / "state", tmp_path / "db.sqlite"))
    result = subprocess.run(
        [os.path.join(scale_cluster.BIN, "hwdrivers-%s" % kind), "--config-file",
         str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("hwdrivers-%s: error: " % kind)
    assert "is SQLite" in result.stderr and "hwdrivers-server" in result.stderr
    assert "[database] connection = postgresql" in result.stderr
    assert not (tmp_path / "db.sqlite").exists()  # refused before touching it
