"""Per-operation overhead: acquire + validate + fake power + verify + release.

Drives ``ConductorManager.change_power_state`` on fake-hardware with no
delay, so what is measured is hwdrivers itself: the lease UPDATE, the node
reads and writes, validation, the driver call, verification and release.
One thread, then 8 threads over disjoint nodes, on SQLite and PostgreSQL.
Target: median under 1 ms per operation on SQLite with one thread.
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.common import context as hw_context  # noqa: E402
from hwdrivers.conductor import manager as manager_mod  # noqa: E402
from hwdrivers.db import api as db_api  # noqa: E402

CTX = hw_context.get_admin_context()


def run_once(manager, node_ids, threads, ops_per_thread):
    latencies = [[] for _ in range(threads)]
    groups = [node_ids[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def worker(index):
        mine = groups[index]
        record = latencies[index]
        barrier.wait()
        for n in range(ops_per_thread):
            target = "power on" if (n // len(mine)) % 2 == 0 else "power off"
            start = time.perf_counter()
            manager.change_power_state(CTX, mine[n % len(mine)], target)
            record.append(time.perf_counter() - start)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    barrier.wait()
    for t in pool:
        t.join()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    flat = [x for lat in latencies for x in lat]
    return flat, wall, cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--ops", type=int, default=2000, help="operations per repetition")
    parser.add_argument("--threads", default="1,8")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    rows = []
    for backend in args.backends.split(","):
        common.configure(conductor__power_state_change_timeout=5)
        with common.database(backend) as ready:
            if ready is None:
                continue
            manager = manager_mod.ConductorManager()
            node_ids = [db_api.create_node({"driver": "fake-hardware"})["id"]
                        for _ in range(args.nodes)]
            manager.change_power_state(CTX, node_ids[0], "power on")  # warm up
            for threads in [int(t) for t in args.threads.split(",")]:
                medians, p99s, rates, cpus = [], [], [], []
                for _ in range(args.repeat):
                    lat, wall, cpu = run_once(manager, node_ids, threads,
                                              max(1, args.ops // threads))
                    medians.append(common.median(lat) * 1e6)
                    p99s.append(common.percentile(lat, 0.99) * 1e6)
                    rates.append(len(lat) / wall)
                    cpus.append(cpu / len(lat) * 1e6)
                rows.append([backend, threads, common.median(medians), common.median(p99s),
                             common.median(rates), common.median(cpus)])
    common.print_table(
        "Operation overhead (fake power on/off, median of %d repetitions)" % args.repeat,
        ["backend", "threads", "median us/op", "p99 us/op", "ops/s", "CPU us/op"], rows)
    return rows


if __name__ == "__main__":
    main()
