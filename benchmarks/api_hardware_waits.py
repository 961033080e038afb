"""API latency while controllers hang: nothing a request thread does waits on them.

A real ``hwdrivers-server`` with F fake-hardware nodes and H Redfish nodes
whose BMCs accept TCP connections and never answer. Each repetition
measures, interleaved, the same requests in two phases: *quiet* (no
hardware call in flight) and *hung* (a power-on sent to every hung node,
and ``[api] hardware_wait_slots`` boot-device reads waiting on them, so
their workers and those API threads are stuck). Figures: median and p99
of ``GET /v1/nodes`` and of ``PUT .../states/power`` to fake nodes, in each
phase; the time to the 202 of the power-on to a hung node; and how fast a
boot-device read beyond the wait slots is refused. Target: under 100 ms
in the hung phase.
"""

import argparse
import concurrent.futures
import http.client
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from tests.fixtures.blackhole import BlackHole  # noqa: E402

SLOTS = 4


def _timed(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        start = time.perf_counter()
        status, _ = common.http_json(conn, method, path, body)
        return status, time.perf_counter() - start
    finally:
        conn.close()


def _probe(port, fakes, requests):
    """Latencies (s) of GET /v1/nodes and fake power PUTs, and any non-2xx status."""
    lists, powers, bad = [], [], []
    for i in range(requests):
        status, elapsed = _timed(port, "GET", "/v1/nodes")
        lists.append(elapsed)
        if status != 200:
            bad.append(status)
        target = "power on" if i % 2 == 0 else "power off"
        status, elapsed = _timed(port, "PUT", "/v1/nodes/fake-%d/states/power" % (i % fakes),
                                 {"target": target})
        powers.append(elapsed)
        if status not in (202, 409):  # 409: the previous change to that node still runs
            bad.append(status)
    return lists, powers, bad


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hung", type=int, default=30, help="Redfish nodes whose BMC hangs")
    parser.add_argument("--fakes", type=int, default=20)
    parser.add_argument("--requests", type=int, default=100, help="probes per phase")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    holes = [BlackHole("tcp") for _ in range(args.hung)]
    rows, accepted_202, refused = [], [], []
    try:
        with tempfile.TemporaryDirectory(prefix="hwbench-hw-") as tmp:
            port = common.free_port()
            config = common.write_config(os.path.join(tmp, "hwdrivers.conf"), {
                "DEFAULT": {"state_path": tmp},
                "database": {"connection": "sqlite:///%s/db.sqlite" % tmp},
                "api": {"host": "127.0.0.1", "port": port, "hardware_wait_slots": SLOTS},
                "conductor": {"sync_power_state_interval": 0},
                "redfish": {"command_retry_timeout": 600},
            })
            with common.Server(config, port, os.path.join(tmp, "server.log")) as server:
                server.wait_serving()
                for i in range(args.fakes):
                    _timed(port, "POST", "/v1/nodes", {"driver": "fake-hardware",
                                                       "name": "fake-%d" % i})
                for i, hole in enumerate(holes):
                    _timed(port, "POST", "/v1/nodes", {
                        "driver": "redfish", "name": "hung-%d" % i, "driver_info": {
                            "redfish_address": "http://127.0.0.1:%d" % hole.port,
                            "redfish_username": "u", "redfish_password": "p"}})
                phases = {"quiet": ([], [], []), "hung": ([], [], [])}
                pool = concurrent.futures.ThreadPoolExecutor(args.hung + SLOTS + 2)
                for rep in range(args.repeat):
                    for into, values in zip(phases["quiet"],
                                            _probe(port, args.fakes, args.requests)):
                        into.extend(values)
                    if rep == 0:  # put every hung node to work, once: they stay stuck
                        accepted_202.extend(elapsed for status, elapsed in pool.map(
                            lambda i: _timed(port, "PUT", "/v1/nodes/hung-%d/states/power"
                                             % i, {"target": "power on"}),
                            range(args.hung)) if status == 202)
                        for i in range(SLOTS):
                            pool.submit(_timed, port, "GET",
                                        "/v1/nodes/hung-%d/management/boot_device" % i)
                        time.sleep(1.0)
                        for i in range(SLOTS, SLOTS + 5):
                            status, elapsed = _timed(
                                port, "GET", "/v1/nodes/hung-%d/management/boot_device" % i)
                            if status == 503:
                                refused.append(elapsed)
                    for into, values in zip(phases["hung"],
                                            _probe(port, args.fakes, args.requests)):
                        into.extend(values)
                server.proc.kill()  # the stuck calls end with it
                pool.shutdown(wait=False, cancel_futures=True)
                for name, (lists, powers, bad) in phases.items():
                    rows.append([name, len(lists),
                                 common.median(lists) * 1000,
                                 common.percentile(lists, 0.99) * 1000,
                                 common.median(powers) * 1000,
                                 common.percentile(powers, 0.99) * 1000, len(bad)])
    finally:
        for hole in holes:
            hole.close()
    common.print_table(
        "API latency with %d hung BMCs being acted on (%d fake nodes, %d wait slots)"
        % (args.hung, args.fakes, SLOTS),
        ["phase", "probes", "list p50 ms", "list p99 ms", "power p50 ms", "power p99 ms",
         "errors"], rows)
    common.print_table(
        "Requests to the hung nodes",
        ["202s", "202 p50 ms", "202 max ms", "refused (503)", "refused p50 ms"],
        [[len(accepted_202), common.median(accepted_202) * 1000 if accepted_202 else None,
          max(accepted_202) * 1000 if accepted_202 else None, len(refused),
          common.median(refused) * 1000 if refused else None]])
    return rows


if __name__ == "__main__":
    main()
