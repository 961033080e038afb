"""200 concurrent power requests over 50 nodes against the real hwdrivers-server.

Every request must end 202 (accepted) or 409 (node locked): the worker pool
([conductor] workers_pool_size = 200, one per request) is larger than the
number of requests, so 503 (no free worker) cannot happen and is a failure.
Each node must end in the state of the last request accepted for it, and
no lease may be left behind once the server is quiet.

Accept order per node: accepted operations on one node run one after the
other (each holds the node's lease for at least [fake] power_delay = 0.3 s),
and the 202 of an operation is sent before the next one can take the lease,
so the order in which the 202s arrive is the order the operations ran.
"""

import collections
import random
import statistics
import threading
import time
import urllib.request

import pytest
from prometheus_client import parser

from tests.functional.server_proc import ServerProcess
from tests.waits import wait_for

NODES = 50
REQUESTS = 200
POWER_DELAY = 0.3
TARGETS = ("power on", "power off")


def scrape_metrics(server):
    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as resp:
        assert resp.status == 200
        return list(parser.text_string_to_metric_families(resp.read().decode()))


def metric(families, sample_name, **labels):
    for family in families:
        for sample in family.samples:
            if sample.name == sample_name and sample.labels == labels:
                return sample.value
    return 0.0


@pytest.fixture
def server(tmp_path):
    proc = ServerProcess(tmp_path, {
        "fake": {"power_delay": POWER_DELAY},
        "conductor": {"workers_pool_size": REQUESTS, "node_locked_retry_timeout": 1.0},
        "api": {"threads": 32},
    }).start()
    yield proc
    proc.stop()


def test_concurrent_power_requests(server):
    uuids = []
    for index in range(NODES):
        status, doc = server.call("POST", "/v1/nodes", {
            "driver": "fake-hardware", "name": "stress-%02d" % index,
            "extra": {"rack": str(index // 10)}})
        assert status == 201, doc
        uuids.append(doc["uuid"])

    rng = random.Random(1234)
    plan = [(uuids[i % NODES], rng.choice(TARGETS)) for i in range(REQUESTS)]
    rng.shuffle(plan)
    results = [None] * REQUESTS
    barrier = threading.Barrier(REQUESTS)

    def fire(index):
        uuid, target = plan[index]
        barrier.wait()
        start = time.monotonic()
        status, doc = server.call("PUT", "/v1/nodes/%s/states/power" % uuid,
                                  {"target": target})
        results[index] = (status, time.monotonic(), time.monotonic() - start, doc)

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(REQUESTS)]
    begin = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - begin

    statuses = collections.Counter(r[0] for r in results)
    assert set(statuses) <= {202, 409}, (statuses, [r[3] for r in results
                                                    if r[0] not in (202, 409)])
    for status, _, _, doc in results:
        if status == 409:
            assert "locked" in doc["error_message"]

    accepted = collections.defaultdict(list)
    for (uuid, target), (status, answered, _, _) in zip(plan, results):
        if status == 202:
            accepted[uuid].append((answered, target))
    assert set(accepted) == set(uuids), "every node's first request is accepted"

    # Quiesce: every target reached, every lease released.
    def quiet():
        rows = server.db_rows("SELECT uuid, power_state, target_power_state, reservation, "
                              "last_error FROM nodes")
        busy = [r for r in rows if r["target_power_state"] or r["reservation"]]
        return rows if not busy else None

    rows = wait_for(quiet, timeout=120, interval=0.1, message="the server to quiesce")
    by_uuid = {r["uuid"]: r for r in rows}
    assert len(by_uuid) == NODES
    for uuid in uuids:
        expected = sorted(accepted[uuid])[-1][1]
        row = by_uuid[uuid]
        assert row["power_state"] == expected, (uuid, accepted[uuid], row)
        assert row["last_error"] is None, row
        status, states = server.call("GET", "/v1/nodes/%s/states" % uuid)
        assert status == 200 and states["power_state"] == expected
    assert server.db_rows("SELECT count(*) AS n FROM nodes WHERE reservation IS NOT NULL"
                          )[0]["n"] == 0

    # GET /metrics counted every accepted operation, with its latency.
    families = scrape_metrics(server)
    accepted_count = statuses[202]
    assert metric(families, "hwdrivers_operations_total", kind="set_power_state",
                  result="success") == accepted_count
    assert metric(families, "hwdrivers_operation_duration_seconds_count",
                  kind="set_power_state") == accepted_count
    assert metric(families, "hwdrivers_operation_duration_seconds_sum",
                  kind="set_power_state") >= accepted_count * POWER_DELAY

    latencies = sorted(r[2] for r in results)
    print("\nstress: %d requests over %d nodes in %.2fs: %s; latency p50 %.3fs, "
          "p95 %.3fs, max %.3fs; server started in %.2fs" % (
              REQUESTS, NODES, elapsed, dict(statuses), statistics.median(latencies),
              latencies[int(0.95 * len(latencies))], latencies[-1], server.started_in))
    assert server.stop() == 0
