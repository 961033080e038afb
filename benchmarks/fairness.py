"""Per-controller fairness: many nodes behind few serialised PDUs.

1,000 fake-hardware nodes on 50 emulated PDUs (20 outlets each, nodes
sharing ``driver_info fake_controller``), ``[fake] max_concurrency = 1``
and every fake command taking 50 ms. Every node is powered on through
``ConductorManager.change_power_state`` from a pool of worker threads, so
each command passes the conductor's per-controller queue
(``hwdrivers.conductor.controllers.LIMITER``).

Figures: total time against the bound (the busiest PDU's commands x 50 ms,
since one PDU can run only one command at a time), and the proof that no
PDU ever ran two commands at once, measured twice: by the limiter's own
peak counter, and independently by timestamping every fake command inside
the driver and checking that no two intervals on one PDU overlap.
"""

import argparse
import collections
import concurrent.futures
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.common import context as hw_context  # noqa: E402
from hwdrivers.conductor import controllers  # noqa: E402
from hwdrivers.conductor import manager as manager_mod  # noqa: E402
from hwdrivers.drivers.modules import fake  # noqa: E402

CTX = hw_context.get_admin_context()


class CommandLog:
    """Timestamps every fake power command per controller, inside the driver."""

    def __init__(self):
        self.intervals = collections.defaultdict(list)
        self._lock = threading.Lock()
        self._originals = {}

    def install(self):
        for name in ("get_power_state", "set_power_state"):
            original = getattr(fake.FakePower, name)
            self._originals[name] = original
            setattr(fake.FakePower, name, self._wrap(original))

    def uninstall(self):
        for name, original in self._originals.items():
            setattr(fake.FakePower, name, original)
        self._originals.clear()

    def _wrap(self, original):
        log = self

        def timed(driver, task, *args, **kwargs):
            key = driver.controller_key(task)
            start = time.monotonic()
            try:
                return original(driver, task, *args, **kwargs)
            finally:
                end = time.monotonic()
                with log._lock:
                    log.intervals[key].append((start, end))
        return timed

    def max_overlap(self):
        """Most commands that ever ran at once on one controller."""
        worst = 0
        for spans in self.intervals.values():
            events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
            running = 0
            for _, step in events:  # an end at the same instant sorts first
                running += step
                worst = max(worst, running)
        return worst


def run_once(args):
    common.configure(fake__power_delay=str(args.command_time), fake__max_concurrency=1,
                     fake__min_command_interval=0.0,
                     conductor__power_state_change_timeout=60)
    controllers.LIMITER = controllers.ControllerLimiter()  # fresh peaks per repetition
    log = CommandLog()
    with common.database("sqlite"):
        # Interleaved: node i sits on PDU i % pdus, so the worker pool keeps
        # every PDU's queue fed rather than draining PDUs one after another.
        node_ids = common.bulk_create_nodes(
            args.nodes, driver_info=lambda i: {"fake_controller": "pdu-%03d" % (i % args.pdus)})
        manager = manager_mod.ConductorManager()
        log.install()
        try:
            failures = []
            cpu0, wall0 = time.process_time(), time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
                futures = [pool.submit(manager.change_power_state, CTX, node_id, "power on")
                           for node_id in node_ids]
                for future in futures:
                    try:
                        future.result()
                    except Exception as exc:  # counted and shown, never hidden
                        failures.append(exc)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        finally:
            log.uninstall()
    busiest = max(len(spans) for spans in log.intervals.values())
    bound = busiest * args.command_time
    peak = max(controllers.LIMITER.peak(key) for key in log.intervals)
    return {"wall": wall, "cpu": cpu, "bound": bound, "commands": busiest,
            "peak": peak, "overlap": log.max_overlap(), "failures": failures,
            "controllers": len(log.intervals)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pdus", type=int, default=50)
    parser.add_argument("--command-time", type=float, default=0.05,
                        help="seconds each fake command takes ([fake] power_delay)")
    parser.add_argument("--workers", type=int, default=200,
                        help="worker threads issuing power requests")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    results = [run_once(args) for _ in range(args.repeat)]
    for result in results:
        for exc in result["failures"][:3]:
            print("  failure: %s" % exc)
    wall = common.median([r["wall"] for r in results])
    bound = common.median([r["bound"] for r in results])
    rows = [[args.nodes, results[0]["controllers"], results[0]["commands"], wall, bound,
             wall / bound, common.median([r["cpu"] for r in results]),
             max(r["peak"] for r in results), max(r["overlap"] for r in results),
             sum(len(r["failures"]) for r in results)]]
    common.print_table(
        "Per-controller fairness (%d PDUs, concurrency 1, %.0f ms/command, %d workers, "
        "median of %d)" % (args.pdus, args.command_time * 1000, args.workers, args.repeat),
        ["nodes", "PDUs", "cmds/PDU", "total s", "bound s", "ratio", "CPU s",
         "peak (limiter)", "peak (measured)", "failures"], rows)
    return rows


if __name__ == "__main__":
    main()
