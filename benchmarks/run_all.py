"""Run every benchmark and print its table (``tox -e bench``).

Each script runs in its own process, so one benchmark's configuration,
threads and memory never leak into the next one's figures. ``--small``
uses sizes that finish in a few minutes on a loaded 2-core machine; without
it the scripts run at the sizes doc/performance.md reports. ``--db-url``
names the PostgreSQL database the benchmarks make their schemas in (it
sets ``HWDRIVERS_TEST_DB_URL`` for every script; default: the local
``test`` database).
"""

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402
from tests.fixtures import db as db_fixtures  # noqa: E402

#: script -> (arguments for --small, arguments for the full run)
BENCHMARKS = [
    ("op_overhead.py", ["--nodes", "32", "--ops", "300", "--repeat", "3"],
     ["--ops", "1000"]),
    # With $HWDRIVERS_IRONIC_PYTHON set (a venv with ironic: --install-ironic DIR)
    # it measures Ironic too; without, hwdrivers and the floor.
    ("ironic_side_by_side.py", ["--nodes", "200", "--ops", "200", "--pairs", "2"],
     ["--nodes", "1000", "--ops", "1000"]),
    ("fleet_sync.py", ["--nodes", "1000", "--repeat", "3"], []),
    ("fairness.py", ["--nodes", "1000", "--pdus", "50", "--repeat", "2"], []),
    ("api_throughput.py", ["--requests", "200", "--clients", "20", "--nodes", "1000",
                           "--repeat", "2"], []),
    # [api] http_server = waitress and granian, alternating.
    ("api_server_side_by_side.py", ["--requests", "200", "--clients", "20", "--nodes",
                                    "500", "--repeat", "1", "--pairs", "1"],
     ["--nodes", "10000", "--requests", "1000"]),
    ("api_hardware_waits.py", ["--requests", "50", "--repeat", "2"], []),
    # callgrind: about a minute per mode and tree at the small size, ten at the full one.
    ("api_instructions.py", ["--requests", "20,120", "--nodes", "10", "--repeat", "1"], []),
    ("startup_memory.py", ["--nodes", "2000", "--repeat", "3"], []),
    ("cli_startup.py", ["--repeat", "5"], ["--repeat", "11"]),
    ("ipmi_overhead.py", ["--bmcs", "20", "--repeat", "3"], ["--repeat", "3"]),
    ("agent_write.py", ["--small", "--repeat", "3"], ["--repeat", "5"]),
    ("external_overhead.py", ["--calls", "50"], []),
    ("deploy_fleet.py", ["--small"], []),
    ("scale_out_sync.py", ["--nodes", "4000", "--latency", "0.2"], ["--latency", "0.2"]),
    ("scale_out_read_cost.py", ["--bmcs", "20", "--redfish-nodes", "12", "--repeat", "2"],
     []),
    ("scale_out_api.py", ["--requests", "200", "--clients", "20", "--nodes", "200",
                          "--repeat", "1"], []),
    ("console_memory.py", ["--consoles", "20", "--repeat", "2"], []),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true",
                        help="small sizes: minutes on a 2-core machine")
    parser.add_argument("--only", help="comma-separated script names (e.g. fairness)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds one benchmark may run before it is stopped")
    parser.add_argument("--db-url", metavar="URL",
                        help="PostgreSQL database to make the benchmark schemas in "
                             "(default: $%s, else %s)" % (db_fixtures.PG_URL_ENV,
                                                         db_fixtures.DEFAULT_PG_URL))
    args = parser.parse_args(argv)
    if args.db_url is not None:
        try:
            url = db_fixtures.admin_url({db_fixtures.PG_URL_ENV: args.db_url})
        except ValueError as exc:
            parser.error(str(exc).replace(db_fixtures.PG_URL_ENV, "--db-url", 1))
        if url.password is not None:  # every local user can read a process's arguments
            parser.error("--db-url must not hold the password (ps shows it to every "
                         "user): put it in PGPASSWORD or ~/.pgpass, or pass the whole "
                         "URL in $%s" % db_fixtures.PG_URL_ENV)
        os.environ[db_fixtures.PG_URL_ENV] = args.db_url  # the scripts inherit it
    only = set((args.only or "").replace(".py", "").split(",")) - {""}
    print("Machine: %s" % common.machine())
    failed = []
    started = time.perf_counter()
    for script, small, full in BENCHMARKS:
        if only and script[:-3] not in only:
            continue
        command = [sys.executable, os.path.join(HERE, script)] + (small if args.small else full)
        print("\n=== %s %s" % (script, " ".join(command[2:])))
        sys.stdout.flush()
        began = time.perf_counter()
        try:
            code = subprocess.call(command, cwd=ROOT, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            code = "timeout after %ss" % args.timeout
        print("  (%s: %.1f s, exit %s)" % (script, time.perf_counter() - began, code))
        if code != 0:
            failed.append(script)
    print("\nAll benchmarks: %.1f s; load average now %.2f %.2f %.2f"
          % ((time.perf_counter() - started,) + os.getloadavg()))
    if failed:
        print("FAILED: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
