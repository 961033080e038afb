"""50 emulated PDUs x 20 outlets behind 3 conductors: one command at a time per PDU.

Each PDU is an :class:`SnmpProxy` in front of the snmpsim agent (its own
UDP port, so its own controller key ``snmp:127.0.0.1:<port>``) that
records, at the PDU side, when every request arrived and when it was
answered. 1,000 nodes are powered on through two API processes at once,
then the power sync runs a few cycles. The hash ring gives each PDU to one
conductor, whose per-controller queue is then the only one in the fleet
talking to it: no PDU ever sees two requests overlap. The same recordings
show the sync reading every outlet once per interval, never twice.
"""

import concurrent.futures
import time

import pytest

from tests.fixtures.snmp_agent import SnmpProxy
from tests.functional import scale_cluster
from tests.functional.scale_cluster import wait_for

pytestmark = pytest.mark.slow

PDUS, OUTLETS = 50, 20
#: Long enough that a cycle over a conductor's ~330 outlets (20 per PDU, read
#: one at a time) fits in it even on a loaded 2-core box: an overrunning cycle
#: is followed at once by the next, which could read an outlet twice in one
#: interval and make the check below meaningless.
SYNC_INTERVAL = 6
APC_STATUS = "1.3.6.1.4.1.318.1.1.4.4.2.1.3"  # apc: the control OID is read back


def _request(api, method, path, body=None):
    """One API call, retried while the answer says to retry later (409, 503)."""
    for _ in range(200):
        status, doc = api.call(method, path, body)
        if status not in (409, 503):
            return status, doc
        time.sleep(0.2)
    return status, doc


def _wait_cycles(cluster, count):
    """Until every conductor logged ``count`` more power-sync cycles than now."""
    marks = {n: len(p.sync_cycles()) for n, p in cluster.conductors.items()}
    for name, proc in cluster.conductors.items():
        wait_for(lambda p=proc, n=name: len(p.sync_cycles()) >= marks[n] + count, 300,
                 "sync cycles on %s" % name, cluster.logs)


def test_fifty_pdus_never_see_two_commands_at_once(tmp_path_factory, _postgresql,
                                                   snmp_agent):
    proxies = [SnmpProxy((snmp_agent.address, snmp_agent.port), delay=0.0)
               for _ in range(PDUS)]
    for proxy in proxies:
        proxy.__enter__()
    cluster = scale_cluster.Cluster(tmp_path_factory.mktemp("pdus"), _postgresql,
                                    timing={"sync_power_state_interval": SYNC_INTERVAL,
                                            # 1,000 actions queued behind 50 PDUs on
                                            # a loaded 2-core box: leases and
                                            # heartbeats must outlast the queueing
                                            "lease_duration": 30,
                                            "heartbeat_timeout": 15})
    try:
        conductor = {
            # One request in flight per PDU, answered well within the timeout,
            # so no retransmission can overlap the request it repeats.
            "snmp": {"timeout": 4.0, "retries": 0},
            "conductor": {"workers_pool_size": 400},
            "DEFAULT": {"enabled_hardware_types": "snmp",
                        "enabled_power_interfaces": "snmp",
                        "enabled_management_interfaces": "noop"},
        }
        for name in ("c1", "c2", "c3"):
            cluster.add_conductor(name, conductor)
        for name in ("api1", "api2"):
            cluster.add_api(name, {"DEFAULT": conductor["DEFAULT"]})
        cluster.wait_live(["c1", "c2", "c3"])

        specs = [(p, outlet) for p in range(PDUS) for outlet in range(1, OUTLETS + 1)]

        def create(index):
            pdu, outlet = specs[index]
            info = snmp_agent.driver_info("apc", outlet, port=proxies[pdu].port)
            return _request(cluster.apis[index % 2], "POST", "/v1/nodes", {
                "driver": "snmp", "name": "pdu%02d-o%02d" % (pdu, outlet),
                "driver_info": info})

        def power_on(index):
            return _request(cluster.apis[index % 2], "PUT",
                            "/v1/nodes/pdu%02d-o%02d/states/power" % specs[index],
                            {"target": "power on"})

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            created = list(pool.map(create, range(len(specs))))
            assert all(status == 201 for status, _ in created), created[:3]
            answers = list(pool.map(power_on, range(len(specs))))
        assert all(status == 202 for status, _ in answers), \
            [a for a in answers if a[0] != 202][:3]

        def all_on():
            rows = cluster.rows("SELECT power_state, target_power_state, last_error "
                                "FROM nodes")
            return all(r["power_state"] == "power on" and r["target_power_state"] is None
                       for r in rows)
        wait_for(all_on, 600, "1,000 nodes powered on", cluster.logs)
        errors = cluster.rows("SELECT name, last_error FROM nodes WHERE last_error "
                              "IS NOT NULL")
        assert errors == []

        # A cycle that paged its rows before the actions finished finds the
        # hardware on where its row said off, and reads the outlet once more
        # under the lease (power_sync._settle): the same conductor, on purpose.
        # So first let every conductor finish a cycle; the ones after it page
        # rows that are current. Then two more cycles on every conductor.
        _wait_cycles(cluster, 1)
        settled = time.monotonic()
        _wait_cycles(cluster, 2)
    finally:
        cluster.close()  # first: reads in flight at the stop get their answers
        for proxy in proxies:
            proxy.__exit__(None, None, None)

    # 1. No PDU ever had two requests in flight.
    for index, proxy in enumerate(proxies):
        exchanges = sorted(proxy.exchanges, key=lambda e: e.arrived)
        assert exchanges and all(e.answered for e in exchanges), index
        for earlier, later in zip(exchanges, exchanges[1:]):
            assert later.arrived >= earlier.answered, (
                "PDU %d: a request arrived %.4fs before the previous one was answered"
                % (index, earlier.answered - later.arrived))

    # 2. Each outlet read by the sync once per interval: consecutive reads of one
    #    outlet are at least an interval apart (a second conductor reading it
    #    would halve that), and every outlet was read.
    for index, proxy in enumerate(proxies):
        reads = {}
        for exchange in proxy.exchanges:
            if exchange.arrived < settled:
                continue
            for oid in exchange.oids:
                if oid.startswith(APC_STATUS + "."):
                    reads.setdefault(oid, []).append(exchange.arrived)
        assert len(reads) == OUTLETS, (index, sorted(reads))
        for oid, times in reads.items():
            assert times, (index, oid)  # read in the last cycle at least
            gaps = [b - a for a, b in zip(times, times[1:])]
            assert all(gap >= SYNC_INTERVAL - 0.5 for gap in gaps), (index, oid, gaps)
