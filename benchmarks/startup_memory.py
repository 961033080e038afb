"""Start-up time and resident memory of hwdrivers-server.

The server runs with every in-tree driver enabled: every hardware type and
every implementation of every interface kind that has an entry point
(read from the installed entry points, so a new driver is included without
editing this file). Figures:

* start-up: wall time from ``Popen`` to the first ``GET /`` answered 200
  (interpreter start, imports, config, schema check, driver loading,
  conductor registration, listener up), median of several starts on an
  already migrated database holding the nodes;
* memory: VmRSS (and the peak, VmHWM) from ``/proc/<pid>/status`` with N
  fake-hardware nodes enrolled, once serving and again after the
  conductor's periodic power sync has finished one cycle over all of them
  (``hwdrivers_power_sync_cycle_duration_seconds_count`` in ``/metrics``).

Targets: under 1 s to serve, under 150 MB resident.
"""

import argparse
import http.client
import os
import re
import sys
import tempfile
import time
from importlib import metadata

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.common import interface_types  # noqa: E402
from hwdrivers.db import engine as db_engine  # noqa: E402
from hwdrivers.db import migration  # noqa: E402

_CYCLES = re.compile(r"^hwdrivers_power_sync_cycle_duration_seconds_count\s+([0-9.e+]+)",
                     re.MULTILINE)


def in_tree_drivers():
    """``{option: [names]}`` enabling every hardware type and interface installed."""
    def names(group):
        return sorted(ep.name for ep in metadata.entry_points().select(group=group)
                      if ep.value.startswith("hwdrivers."))
    enabled = {"enabled_hardware_types": names("hwdrivers.hardware.types")}
    for kind in interface_types.ALL:
        enabled["enabled_%s_interfaces" % kind] = names(
            "hwdrivers.hardware.interfaces.%s" % kind)
    return enabled


def vm_status(pid, field):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def sync_cycles(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
    finally:
        conn.close()
    match = _CYCLES.search(text) if response.status == 200 else None
    return float(match.group(1)) if match else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5, help="server starts to time")
    parser.add_argument("--sync-timeout", type=float, default=300,
                        help="seconds to wait for the first power sync cycle")
    args = parser.parse_args(argv)
    drivers = in_tree_drivers()
    with tempfile.TemporaryDirectory(prefix="hwbench-start-") as tmp:
        db_url = "sqlite:///%s/start.sqlite" % tmp
        common.configure(database__connection=db_url, state_path=tmp)
        migration.upgrade()
        common.bulk_create_nodes(args.nodes, power_state="power off")
        db_engine.dispose()
        startups = []
        for rep in range(args.repeat):
            port = common.free_port()
            config = common.write_config(os.path.join(tmp, "hwdrivers.conf"), {
                "DEFAULT": dict(drivers, state_path=tmp),
                "database": {"connection": db_url},
                "api": {"host": "127.0.0.1", "port": port},
                # The last start measures memory after a sync; the others never sync.
                "conductor": {"sync_power_state_interval":
                              1 if rep == args.repeat - 1 else 0},
            })
            with common.Server(config, port, os.path.join(tmp, "server.log")) as server:
                startups.append(server.wait_serving())
                if rep < args.repeat - 1:
                    continue
                serving_rss = server.rss_mb()
                deadline = time.monotonic() + args.sync_timeout
                while sync_cycles(port) < 1:
                    if time.monotonic() > deadline or server.proc.poll() is not None:
                        raise RuntimeError("no power sync cycle within %ss:\n%s"
                                           % (args.sync_timeout, server.log_tail()))
                    time.sleep(0.2)
                synced_rss = server.rss_mb()
                peak = vm_status(server.proc.pid, "VmHWM")
    common.print_table(
        "hwdrivers-server start-up (every in-tree driver: %s; median of %d starts)"
        % (", ".join(drivers["enabled_hardware_types"]), args.repeat),
        ["nodes", "to serve s (median)", "min s", "max s"],
        [[args.nodes, common.median(startups), min(startups), max(startups)]])
    common.print_table(
        "hwdrivers-server resident memory (VmRSS, MiB)",
        ["nodes", "serving", "after 1 sync cycle", "peak (VmHWM)"],
        [[args.nodes, serving_rss, synced_rss, peak]])
    return [[args.nodes, common.median(startups), serving_rss, synced_rss, peak]]


if __name__ == "__main__":
    main()
