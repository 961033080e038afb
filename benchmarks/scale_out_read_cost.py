"""The CPU cost of one real power-state read, and what it means for a conductor's size.

Power sync at fleet size is bounded by the conductor's CPU long before its
threads: every read costs the conductor something, whatever the BMC's
latency. Three ways of reading, each against an emulator in its own
process (whose CPU is not counted):

* ``ipmitool`` through the product: ``PowerSync.run_cycle()`` over N
  ``ipmi`` nodes on pyghmi's fake BMCs (tests/fixtures/ipmi_bmc.py) — the
  conductor's CPU plus every ipmitool process it ran (``RUSAGE_CHILDREN``);
* ``pyghmi`` sessions kept open: one ``pyghmi.ipmi.command.Command`` per
  BMC (RMCP+ session established once), ``get_power()`` N times — the
  native-library alternative to a process per call;
* ``sushy`` through the product: ``PowerSync.run_cycle()`` over N
  ``redfish`` nodes on sushy-tools' emulator (tests/fixtures/redfish_emulator.py).

Figures: CPU milliseconds per read and nodes one core can read per
minute (60 / CPU per read), i.e. how many nodes one conductor core keeps
in sync at a 60 s interval, whatever the latency.
"""

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.conductor import power_sync  # noqa: E402
from tests.fixtures import ipmi_bmc  # noqa: E402
from tests.fixtures import redfish_emulator  # noqa: E402


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sync_cost(reads, concurrency, repeat):
    """(wall s, own CPU s, children CPU s, nodes read, failed) per cycle, medians."""
    sync = power_sync.PowerSync(concurrency=concurrency)
    sync.run_cycle()  # warm-up: imports, compositions, sessions
    walls, own, children, read, failed = [], [], [], [], []
    for _ in range(repeat):
        cpu0, kids0, wall0 = time.process_time(), _children_cpu(), time.perf_counter()
        stats = sync.run_cycle()
        walls.append(time.perf_counter() - wall0)
        own.append(time.process_time() - cpu0)
        children.append(_children_cpu() - kids0)
        read.append(stats.nodes)
        failed.append(stats.failed)
    return (common.median(walls), common.median(own), common.median(children),
            min(read), sum(failed))


def _row(path, reads, own, children, failed):
    per_read = (own + children) / max(reads, 1)
    return [path, reads, own / max(reads, 1) * 1000, children / max(reads, 1) * 1000,
            per_read * 1000, 60.0 / per_read if per_read else 0.0, failed]


def ipmitool_rows(args):
    common.configure(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
                     enabled_management_interfaces=["ipmitool", "noop"],
                     enabled_boot_interfaces=["noop"], enabled_deploy_interfaces=["noop"])
    rows = []
    with ipmi_bmc.start_fake_bmcs(args.bmcs) as bmcs, common.database("sqlite"):
        common.bulk_create_nodes(args.bmcs, driver="ipmi", power_state="power off",
                                 driver_info=bmcs.driver_info)
        _, own, children, read, failed = _sync_cost(args.bmcs, args.concurrency,
                                                    args.repeat)
        rows.append(_row("ipmitool (process per read)", read, own, children, failed))
        rows.append(pyghmi_row(bmcs, args))
    return rows


def _sha1_only(session_class):
    """Make pyghmi's client offer cipher suite 3 (SHA-1) first.

    It opens with SHA-256 (suite 17) and falls back only on a refusal; the
    fake BMC (pyghmi's own server side) accepts the offer but then answers
    in SHA-1, which the client cannot parse. Real BMCs negotiate properly;
    suite 3 is also what ipmitool uses against the fake BMC.
    """
    original = session_class._open_rmcpplus_request

    def open_request(self):
        self.attemptedhash = 1
        return original(self)

    session_class._open_rmcpplus_request = open_request


def pyghmi_row(bmcs, args):
    from pyghmi.ipmi import command
    from pyghmi.ipmi.private import session as pyghmi_session
    _sha1_only(pyghmi_session.Session)
    sessions = [command.Command(bmc=bmcs.address, port=port, userid=ipmi_bmc.USERNAME,
                                password=ipmi_bmc.PASSWORD) for port in bmcs.ports]
    failed = 0
    for session in sessions:  # warm-up
        session.get_power()
    cpus = []
    for _ in range(args.repeat):
        cpu0 = time.process_time()
        for session in sessions:
            try:
                session.get_power()
            except Exception:  # noqa: BLE001 (counted)
                failed += 1
        cpus.append(time.process_time() - cpu0)
    return _row("pyghmi (session kept open)", len(sessions), common.median(cpus), 0.0,
                failed)


def redfish_row(args):
    common.configure(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
                     enabled_management_interfaces=["redfish", "noop"],
                     enabled_boot_interfaces=["noop"], enabled_deploy_interfaces=["noop"])
    with tempfile.TemporaryDirectory(prefix="hwbench-redfish-") as tmp:
        emulator = redfish_emulator.start_emulator(tmp)
        try:
            names = sorted(emulator.systems)
            with common.database("sqlite"):
                common.bulk_create_nodes(
                    args.redfish_nodes, driver="redfish", power_state="power off",
                    driver_info=lambda i: emulator.driver_info(names[i % len(names)]))
                _, own, children, read, failed = _sync_cost(
                    args.redfish_nodes, args.concurrency, args.repeat)
        finally:
            redfish_emulator.stop_group(emulator.process)
    return _row("sushy (HTTP, kept-alive)", read, own, children, failed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bmcs", type=int, default=100, help="fake IPMI BMCs")
    parser.add_argument("--redfish-nodes", type=int, default=60,
                        help="redfish nodes (over the emulator's 6 systems)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = ipmitool_rows(args) + [redfish_row(args)]
    common.print_table(
        "CPU per power-state read (median of %d cycles; emulators' CPU not counted)"
        % args.repeat,
        ["path", "reads", "conductor ms/read", "child processes ms/read", "total ms/read",
         "nodes/core/min", "failed"], rows)
    return rows


if __name__ == "__main__":
    main()
