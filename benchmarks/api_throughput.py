"""API throughput: power requests from concurrent clients against hwdrivers-server.

A real ``hwdrivers-server`` (its own process, a free port, a temporary
SQLite database named in a config file) with N fake-hardware nodes
enrolled beforehand. C client threads, each on its own kept-alive HTTP
connection, send ``PUT /v1/nodes/{node}/states/power`` for R distinct
nodes and then poll ``GET /v1/nodes/{node}/states`` until the node reports
the target with no target pending. Figures: requests/s over the run,
p50/p99 latency to the 202 and to the state actually reached (the latter
includes up to one poll interval), the server's CPU per request (its
share of the polling GETs included; GETs/req says how many) and its
thread switches per request (every live thread's, from /proc: steadier
than time on a shared machine, where each switch is costly); then
``GET /v1/nodes/detail`` over all N nodes: the first page (the API's
default page size) and every page, following ``next``.
"""

import argparse
import http.client
import os
import queue
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.db import engine as db_engine  # noqa: E402
from hwdrivers.db import migration  # noqa: E402


def prepare(tmp, nodes, extra_sections=None):
    """A migrated SQLite database with ``nodes`` fake nodes, and a server config."""
    db_url = "sqlite:///%s/api.sqlite" % tmp
    common.configure(database__connection=db_url, state_path=tmp)
    migration.upgrade()
    common.bulk_create_nodes(nodes, power_state="power off")
    db_engine.dispose()
    port = common.free_port()
    sections = {
        "DEFAULT": {"state_path": tmp, "enabled_hardware_types": "fake-hardware"},
        "database": {"connection": db_url},
        "api": {"host": "127.0.0.1", "port": port},
        # The periodic sync would read every node in the middle of the run.
        "conductor": {"sync_power_state_interval": 0},
    }
    for section, options in (extra_sections or {}).items():
        sections.setdefault(section, {}).update(options)
    return common.write_config(os.path.join(tmp, "hwdrivers.conf"), sections), port


def power_run(port, names, target, clients, poll):
    """Every name gets one power request; returns latencies, wall time and failures."""
    work = queue.SimpleQueue()
    for name in names:
        work.put(name)
    accepted, reached, failures, polls = [], [], [], [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        barrier.wait()
        try:
            while True:
                try:
                    name = work.get_nowait()
                except queue.Empty:
                    return
                start = time.perf_counter()
                status, body = common.http_json(conn, "PUT", "/v1/nodes/%s/states/power" % name,
                                                {"target": target})
                t_accepted = time.perf_counter() - start
                if status != 202:
                    with lock:
                        failures.append("%s: HTTP %s %s" % (name, status, body))
                    continue
                while True:
                    status, body = common.http_json(conn, "GET", "/v1/nodes/%s/states" % name)
                    with lock:
                        polls[0] += 1
                    if status != 200:
                        failure = "%s: GET states HTTP %s %s" % (name, status, body)
                        break
                    if body.get("last_error"):
                        failure = "%s: %s" % (name, body["last_error"])
                        break
                    if body["power_state"] == target and not body["target_power_state"]:
                        failure = None
                        break
                    time.sleep(poll)
                t_reached = time.perf_counter() - start
                with lock:
                    if failure:
                        failures.append(failure)
                    else:
                        accepted.append(t_accepted)
                        reached.append(t_reached)
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return accepted, reached, time.perf_counter() - began, failures, polls[0]


def list_detail(port):
    """Seconds for the first page of /v1/nodes/detail, for every page, the count, the pages."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        start = time.perf_counter()
        path, count, first, pages = "/v1/nodes/detail", 0, None, 0
        while path:
            status, body = common.http_json(conn, "GET", path)
            pages += 1
            if status != 200:
                raise RuntimeError("GET %s: HTTP %s %s" % (path, status, body))
            if first is None:
                first = time.perf_counter() - start
            count += len(body["nodes"])
            next_url = body.get("next")
            path = None
            if next_url and body["nodes"]:
                parts = urllib.parse.urlsplit(next_url)
                path = parts.path + ("?" + parts.query if parts.query else "")
        return first, time.perf_counter() - start, count, pages
    finally:
        conn.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=10000,
                        help="nodes enrolled (listed by GET /v1/nodes/detail)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--poll", type=float, default=0.02,
                        help="seconds between GET .../states polls")
    parser.add_argument("--api-threads", type=int, default=None,
                        help="the server's [api] threads (default: its own default)")
    args = parser.parse_args(argv)
    if args.requests > args.nodes:
        parser.error("--requests (%d) must not exceed --nodes (%d): one request per node"
                     % (args.requests, args.nodes))
    names = ["bench-%06d" % i for i in range(args.requests)]
    power_rows, list_rows = [], []
    extra = {"api": {"threads": args.api_threads}} if args.api_threads else None
    print("before: %s" % common.machine())
    with tempfile.TemporaryDirectory(prefix="hwbench-api-") as tmp:
        config, port = prepare(tmp, args.nodes, extra)
        with common.Server(config, port, os.path.join(tmp, "server.log")) as server:
            server.wait_serving()
            runs = []
            for rep in range(args.repeat):
                target = "power on" if rep % 2 == 0 else "power off"
                cpu0, switches0 = server.cpu_seconds(), server.context_switches()
                accepted, reached, wall, failures, polls = power_run(
                    port, names, target, args.clients, args.poll)
                cpu = server.cpu_seconds() - cpu0
                switches = server.context_switches() - switches0
                for failure in failures[:3]:
                    print("  failure: %s" % failure)
                runs.append((accepted, reached, wall, failures, cpu, polls, switches))
            power_rows.append([
                args.requests, args.clients,
                common.median([len(r[0]) / r[2] for r in runs]),
                common.median([common.median(r[0]) * 1000 for r in runs]),
                common.median([common.percentile(r[0], 0.99) * 1000 for r in runs]),
                common.median([common.median(r[1]) * 1000 for r in runs]),
                common.median([common.percentile(r[1], 0.99) * 1000 for r in runs]),
                common.median([r[4] / max(1, len(r[0])) * 1000 for r in runs]),
                common.median([r[5] / max(1, len(r[0])) for r in runs]),
                common.median([r[6] / max(1, len(r[0])) for r in runs]),
                sum(len(r[3]) for r in runs)])
            listings = []
            for _ in range(args.repeat):
                cpu0 = server.cpu_seconds()
                first, total, count, pages = list_detail(port)
                listings.append((first, total, count,
                                 (server.cpu_seconds() - cpu0) / max(1, pages)))
            list_rows.append([args.nodes, listings[0][2],
                              common.median([x[0] for x in listings]) * 1000,
                              common.median([x[1] for x in listings]) * 1000,
                              common.median([x[3] for x in listings]) * 1000])
            rss = server.rss_mb()
    common.print_table(
        "API power requests (%d clients, fake power, median of %d runs)"
        % (args.clients, args.repeat),
        ["requests", "clients", "req/s", "p50 202 ms", "p99 202 ms", "p50 reached ms",
         "p99 reached ms", "server CPU ms/req", "GETs/req", "switches/req", "failures"],
        power_rows)
    common.print_table(
        "API GET /v1/nodes/detail (median of %d; server RSS %.0f MB after)"
        % (args.repeat, rss),
        ["nodes", "listed", "first page ms", "all pages ms", "server CPU ms/page"], list_rows)
    print("after: %s" % common.machine())
    return power_rows + list_rows


if __name__ == "__main__":
    main()
