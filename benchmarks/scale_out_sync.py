"""Scale-out power sync: N fake nodes across K conductor processes on PostgreSQL.

K child processes each run a real partitioned ``ConductorService`` (the one
``hwdrivers-conductor`` runs: registered, heartbeating, on its group's hash
ring) on one private PostgreSQL schema holding N fake-hardware nodes whose
power reads each take ``--latency`` seconds (``[fake] power_delay``: 1 s is
Redfish-like, 0.2 s IPMI-like). The periodic sync is off; the parent tells
every child to run one ``PowerSync.run_cycle()`` at the same moment, so a
cycle of the fleet is the slowest child's.

Figures: that cycle against the bound N x latency / (K x workers) (no
cycle can beat it; target: within 20%), the nodes each conductor read (they
must add up to N: each node once), and CPU seconds per 1,000 node reads
(every child's CPU during the cycle, summed).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

#: A conductor that syncs on command: "GO" on stdin -> one cycle -> a JSON line.
CHILD = textwrap.dedent("""
    import json, sys, time
    from hwdrivers import conf as hw_conf
    from hwdrivers.conductor import service as service_mod

    hw_conf.CONF(["--config-file", sys.argv[1]], project="hwdrivers",
                 default_config_files=[])
    svc = service_mod.ConductorService(partitioned=True)
    svc.start()
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() != "GO":
            break
        svc.rings.refresh()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        stats = svc.power_sync.run_cycle()
        print(json.dumps({"wall": time.perf_counter() - wall0,
                          "cpu": time.process_time() - cpu0,
                          "nodes": stats.nodes, "in_sync": stats.in_sync,
                          "failed": stats.failed, "not_owned": stats.not_owned}),
              flush=True)
    svc.stop(timeout=5)
""")


def _start_children(tmp, db_url, args):
    children = []
    for index in range(args.conductors):
        name = "bench-c%d" % (index + 1)
        config = common.write_config(os.path.join(tmp, "%s.conf" % name), {
            "DEFAULT": {"host": name, "state_path": os.path.join(tmp, name),
                        "enabled_hardware_types": "fake-hardware"},
            "database": {"connection": db_url, "pool_size": 4},
            "secrets": {"key_file": os.path.join(tmp, "secrets.key")},
            "conductor": {"sync_power_state_interval": 0, "heartbeat_interval": 1,
                          "heartbeat_timeout": 30, "hash_ring_reset_interval": 1,
                          "power_failure_recovery_interval": 0,
                          "sync_power_state_workers": args.workers},
            "deploy": {"check_timeouts_interval": 0},
            "fake": {"power_delay": args.latency},
        })
        proc = subprocess.Popen([sys.executable, "-c", CHILD, config], cwd=common.ROOT,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=open(os.path.join(tmp, "%s.log" % name), "w"),
                                text=True)
        children.append(proc)
    for proc in children:
        line = proc.stdout.readline()
        if line.strip() != "READY":
            raise RuntimeError("a conductor did not start (see its log in %s): %r"
                               % (tmp, line))
    time.sleep(2.5)  # every ring has seen every member
    return children


def cycle(children):
    for proc in children:
        proc.stdin.write("GO\n")
        proc.stdin.flush()
    return [json.loads(proc.stdout.readline()) for proc in children]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=50000)
    parser.add_argument("--conductors", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.2,
                        help="seconds each fake power read takes")
    parser.add_argument("--workers", type=int, default=80,
                        help="[conductor] sync_power_state_workers of each conductor")
    parser.add_argument("--repeat", type=int, default=1, help="cycles to time")
    args = parser.parse_args(argv)
    rows = []
    common.configure(enabled_hardware_types=["fake-hardware"])
    with common.database("postgresql") as ready:
        if ready is None:
            return rows
        common.bulk_create_nodes(args.nodes, power_state="power off")
        db_url = common.CONF.database.connection
        with tempfile.TemporaryDirectory(prefix="hwbench-scale-") as tmp:
            children = _start_children(tmp, db_url, args)
            try:
                runs = [cycle(children) for _ in range(args.repeat)]
            finally:
                for proc in children:
                    proc.stdin.close()
                for proc in children:
                    try:
                        proc.wait(60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    bound = args.nodes * args.latency / (args.conductors * args.workers)
    walls = [max(r["wall"] for r in run) for run in runs]
    cpus = [sum(r["cpu"] for r in run) for run in runs]
    last = runs[-1]
    wall = common.median(walls)
    rows.append([args.nodes, args.conductors, args.workers, args.latency, wall, bound,
                 wall / bound, common.median(cpus) / args.nodes * 1000,
                 sum(r["nodes"] for r in last),
                 "/".join(str(r["nodes"]) for r in last),
                 sum(r["failed"] for r in last)])
    common.print_table(
        "Scale-out power sync (%d conductor processes, PostgreSQL; median of %d)"
        % (args.conductors, args.repeat),
        ["nodes", "conductors", "workers each", "latency s", "cycle s", "bound s",
         "ratio", "CPU s/1000 reads", "read", "per conductor", "failed"], rows)
    return rows


if __name__ == "__main__":
    main()
