"""The API under waitress and under granian, side by side.

Issue 14 asks for 1,000 power requests/s from 50 clients with p99 to the
202 <= 50 ms, and, before another HTTP server is chosen, for it to be
measured side by side. This runs the same load as ``api_throughput.py``
(50 clients: ``PUT .../states/power`` then ``GET .../states`` every 20 ms
until reached; then the first ``GET /v1/nodes/detail`` page) against
``hwdrivers-server`` with each ``[api] http_server``:

* ``waitress``: pure Python, the server before issue 14's second pass;
* ``granian``: granian's Rust HTTP/1.1 worker on threads of the server
  process (``hwdrivers.cmd.granian_server``), the default.

Everything else (conductor, app, database, ``[api] threads``) is the
same. The two alternate, each on a fresh SQLite database of N fake
nodes; server CPU per request is read from ``/proc``.
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import api_throughput  # noqa: E402
from benchmarks import common  # noqa: E402

KINDS = ("waitress", "granian")


def run_server(kind, args):
    """One server on a fresh database: its figures as a row."""
    with tempfile.TemporaryDirectory(prefix="hwbench-%s-" % kind) as tmp:
        config, port = api_throughput.prepare(
            tmp, args.nodes, {"api": {"threads": args.threads, "http_server": kind}})
        with common.Server(config, port, os.path.join(tmp, "server.log")) as server:
            server.wait_serving()
            names = ["bench-%06d" % i for i in range(args.requests)]
            runs = []
            for rep in range(args.repeat):
                cpu0 = server.cpu_seconds()
                accepted, _, wall, failures, polls = api_throughput.power_run(
                    port, names, "power on" if rep % 2 == 0 else "power off",
                    args.clients, 0.02)
                cpu = server.cpu_seconds() - cpu0
                runs.append((len(accepted) / wall,
                             common.percentile(accepted, 0.99) * 1000 if accepted else 0,
                             cpu / max(1, len(accepted)) * 1000,
                             polls / max(1, len(accepted)), len(failures)))
            first = api_throughput.list_detail(port)[0]
    return [kind, common.median([r[0] for r in runs]), common.median([r[1] for r in runs]),
            common.median([r[2] for r in runs]), common.median([r[3] for r in runs]),
            sum(r[4] for r in runs), first * 1000]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="power runs per server start")
    parser.add_argument("--pairs", type=int, default=3, help="waitress/granian alternations")
    parser.add_argument("--threads", type=int, default=8, help="[api] threads")
    args = parser.parse_args(argv)
    if args.requests > args.nodes:
        parser.error("--requests (%d) must not exceed --nodes (%d)"
                     % (args.requests, args.nodes))
    print("before: %s" % common.machine(), flush=True)
    rows = []
    for pair in range(args.pairs):
        for kind in KINDS:
            row = run_server(kind, args)
            print("  pair %d/%d %-8s %7.1f req/s, p99 to the 202 %6.1f ms, %.2f ms CPU/req"
                  % (pair + 1, args.pairs, kind, row[1], row[2], row[3]), flush=True)
            rows.append(row)
    common.print_table(
        "API power requests, [api] http_server = waitress and granian (%d clients, %d "
        "nodes, %d threads; "
        "median of %d runs per start, every start listed)"
        % (args.clients, args.nodes, args.threads, args.repeat),
        ["server", "req/s", "p99 202 ms", "server CPU ms/req", "GETs/req", "failures",
         "detail first page ms"], rows)
    print("after: %s" % common.machine())
    return rows


if __name__ == "__main__":
    main()
