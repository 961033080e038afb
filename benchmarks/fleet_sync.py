"""Fleet power sync: one sync cycle over 10,000 slow fake BMCs.

Every fake-hardware node's power call sleeps 100 ms (``[fake]
power_delay``), and the conductor's ``PowerSync`` may run 200 calls at
once. No cycle can beat nodes x latency / concurrency (5 s at 10,000
nodes), so the figure is the cycle time against that bound, and the CPU
the conductor burns meanwhile. Targets: within 20% of the bound, under
one core.

Fake-hardware keeps its power state in the node's row, so the hardware
always agrees with the database: the cycle is the steady state of a
healthy fleet, every node read, none corrected (the rare correction takes
a lease; operation overhead is measured by op_overhead.py).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.conductor import power_sync  # noqa: E402


def measure(backend, args):
    """Enroll the nodes, run ``--repeat`` cycles; one table row."""
    common.bulk_create_nodes(args.nodes, power_state="power off")
    sync = power_sync.PowerSync(concurrency=args.concurrency)
    bound = args.nodes * args.latency / args.concurrency
    cycles = []
    for _ in range(args.repeat):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        stats = sync.run_cycle()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        cycles.append((wall, cpu, stats))
    wall = common.median([c[0] for c in cycles])
    cpu = common.median([c[1] for c in cycles])
    last = cycles[-1][2]
    return [backend, args.nodes, args.concurrency, args.latency * 1000, wall, bound,
            wall / bound, cpu, cpu / wall, last.nodes, last.in_sync, last.recorded,
            last.failed]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--latency", type=float, default=0.1,
                        help="seconds each fake power call takes")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="sync cycles to time")
    parser.add_argument("--backends", default="sqlite",
                        help="comma-separated: sqlite, postgresql")
    args = parser.parse_args(argv)
    rows = []
    for backend in args.backends.split(","):
        common.configure(fake__power_delay=str(args.latency))
        with common.database(backend) as ready:
            if ready is not None:
                rows.append(measure(backend, args))
    common.print_table(
        "Fleet power sync (fake power %.0f ms, median of %d cycles)"
        % (args.latency * 1000, args.repeat),
        ["backend", "nodes", "concurrency", "latency ms", "cycle s", "bound s", "ratio",
         "CPU s", "cores", "read", "in sync", "recorded", "failed"], rows)
    return rows


if __name__ == "__main__":
    main()
