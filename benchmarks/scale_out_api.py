"""Scale-out API throughput: 2 hwdrivers-api + 3 hwdrivers-conductor vs one hwdrivers-server.

The same client load as api_throughput.py — C client threads, each on a
kept-alive connection, send ``PUT .../states/power`` for R distinct
fake-hardware nodes and poll ``GET .../states`` until the state is
reached — against two deployments on this machine:

* ``hwdrivers-server`` alone on SQLite (the all-in-one default);
* two ``hwdrivers-api`` processes (half the clients each) routing over
  JSON-RPC to three ``hwdrivers-conductor`` processes, all on one
  PostgreSQL schema (tests/functional/scale_cluster.py starts them).

Figures: requests/s, p50/p99 to the 202 and to the state reached, and
failures. On one 2-core machine the split deployment pays an extra hop
and more processes for the same cores; its point is that API processes
and conductors can then be spread over machines.
"""

import argparse
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import api_throughput  # noqa: E402
from benchmarks import common  # noqa: E402
from hwdrivers.db import engine as db_engine  # noqa: E402
from tests.fixtures import db as db_fixtures  # noqa: E402
from tests.functional import scale_cluster  # noqa: E402


def _row(label, runs, requests, clients):
    return [label, requests, clients,
            common.median([len(r[0]) / r[2] for r in runs]),
            common.median([common.median(r[0]) * 1000 for r in runs]),
            common.median([common.percentile(r[0], 0.99) * 1000 for r in runs]),
            common.median([common.median(r[1]) * 1000 for r in runs]),
            common.median([common.percentile(r[1], 0.99) * 1000 for r in runs]),
            sum(len(r[3]) for r in runs)]


def _split_run(ports, names, target, clients, poll):
    """power_run on each port at once, names and clients shared out."""
    results = [None] * len(ports)

    def run(index):
        results[index] = api_throughput.power_run(
            ports[index], names[index::len(ports)], target,
            max(1, clients // len(ports)), poll)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(ports))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [x for r in results for x in r[0]]
    reached = [x for r in results for x in r[1]]
    failures = [x for r in results for x in r[3]]
    return accepted, reached, max(r[2] for r in results), failures


def single(args, names):
    runs = []
    with tempfile.TemporaryDirectory(prefix="hwbench-api-") as tmp:
        config, port = api_throughput.prepare(tmp, args.nodes)
        with common.Server(config, port, os.path.join(tmp, "server.log")) as server:
            server.wait_serving()
            for rep in range(args.repeat):
                target = "power on" if rep % 2 == 0 else "power off"
                accepted, reached, wall, failures, _ = api_throughput.power_run(
                    port, names, target, args.clients, args.poll)
                runs.append((accepted, reached, wall, failures))
    return _row("hwdrivers-server (SQLite)", runs, args.requests, args.clients)


def split(args, names):
    runs = []
    with tempfile.TemporaryDirectory(prefix="hwbench-scale-api-") as tmp:
        import pathlib
        cluster = scale_cluster.Cluster(pathlib.Path(tmp), db_fixtures._PostgreSQL(),
                                        timing={"sync_power_state_interval": 0})
        try:
            extra = {"DEFAULT": {"enabled_hardware_types": "fake-hardware"}}
            cluster.add_conductor("c1", extra)  # migrates the schema
            common.configure(database__connection=cluster.db_url)
            common.bulk_create_nodes(args.nodes, power_state="power off")
            db_engine.dispose()
            for name in ("c2", "c3"):
                cluster.add_conductor(name, extra)
            for name in ("api1", "api2"):
                cluster.add_api(name, extra)
            cluster.wait_live(["c1", "c2", "c3"])
            ports = [int(api.url.rsplit(":", 1)[1]) for api in cluster.apis]
            for rep in range(args.repeat):
                target = "power on" if rep % 2 == 0 else "power off"
                runs.append(_split_run(ports, names, target, args.clients, args.poll))
        finally:
            cluster.close()
    return _row("2 hwdrivers-api + 3 conductors (PostgreSQL)", runs, args.requests,
                args.clients)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--poll", type=float, default=0.02)
    args = parser.parse_args(argv)
    if args.requests > args.nodes:
        parser.error("--requests must not exceed --nodes: one request per node")
    names = ["bench-%06d" % i for i in range(args.requests)]
    rows = [single(args, names), split(args, names)]
    for row in rows[:1]:
        row.append(1.0)
    rows[1].append(rows[1][3] / rows[0][3])
    common.print_table(
        "API power requests, single process vs scaled out (%d clients, fake power, "
        "median of %d)" % (args.clients, args.repeat),
        ["deployment", "requests", "clients", "req/s", "p50 202 ms", "p99 202 ms",
         "p50 reached ms", "p99 reached ms", "failures", "vs single"], rows)
    return rows


if __name__ == "__main__":
    main()
