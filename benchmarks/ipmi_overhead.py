"""Real protocol overhead: a power status sync through the ipmi driver vs bare ipmitool.

N pyghmi fake BMCs serve IPMI 2.0 lanplus on 127.0.0.1, all in one child
process (tests/fixtures/ipmi_bmc.py). Two ways to read every BMC's power
state at the same concurrency C:

* the product: N ipmi nodes (driver ``ipmi``, power ``ipmitool``) enrolled
  in a temporary SQLite database, and one ``PowerSync.run_cycle()`` with C
  workers — paging nodes, validating driver_info, the controller queues,
  the retry wrapper, running ipmitool and parsing its answer;
* a bare loop: C threads running ``ipmitool -I lanplus -H ... -U ... -E
  power status`` for the same BMCs, nothing else.

The ratio of the two wall times is the framework's overhead over the
protocol itself (target < 1.2). A third row runs the bare loop with the
exact command line the driver builds (``-L``, ``-N``, ``-R``, ``-v``), to
tell the driver's own cost from what its ipmitool flags cost.
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.conductor import power_sync  # noqa: E402
from hwdrivers.drivers.modules import ipmitool  # noqa: E402
from tests.fixtures import ipmi_bmc  # noqa: E402


def bare_loop(bmcs, concurrency, exact):
    """Every BMC's ``power status`` by plain ipmitool runs; (wall, failures)."""
    env = dict(os.environ, IPMI_PASSWORD=ipmi_bmc.PASSWORD, LC_ALL="C")
    env.pop("IPMITOOL_PASSWORD", None)

    def argv(port):
        if exact:  # the driver's own command line
            info = {"ipmi_address": bmcs.address, "ipmi_port": port,
                    "ipmi_username": ipmi_bmc.USERNAME, "ipmi_password": ipmi_bmc.PASSWORD,
                    "ipmi_priv_level": "ADMINISTRATOR", "ipmi_protocol_version": "2.0",
                    "ipmi_cipher_suite": None}
            return ipmitool.build_argv(info, ["power", "status"])
        return ["ipmitool", "-I", "lanplus", "-H", bmcs.address, "-p", str(port),
                "-U", ipmi_bmc.USERNAME, "-E", "power", "status"]

    def status(port):
        proc = subprocess.run(argv(port), env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0 or "Chassis Power is" not in proc.stdout:
            return "port %d: exit %s %s" % (port, proc.returncode, proc.stderr.strip()[-200:])
        return None

    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        failures = [f for f in pool.map(status, bmcs.ports) if f]
    return time.perf_counter() - began, failures


def driver_cycle(sync):
    cpu0, began = time.process_time(), time.perf_counter()
    stats = sync.run_cycle()
    return time.perf_counter() - began, time.process_time() - cpu0, stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bmcs", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8,
                        help="status reads at once (the sync's workers, the bare loop's "
                             "threads; 8 was [conductor] sync_power_state_workers' default when "
                             "doc/performance.md section 6 was measured; it is 80 now)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    common.configure(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
                     enabled_management_interfaces=["ipmitool", "noop"],
                     enabled_boot_interfaces=["noop"], enabled_deploy_interfaces=["noop"])
    rows = []
    with ipmi_bmc.start_fake_bmcs(args.bmcs) as bmcs, common.database("sqlite"):
        common.bulk_create_nodes(args.bmcs, driver="ipmi", power_state="power off",
                                 driver_info=bmcs.driver_info)
        sync = power_sync.PowerSync(concurrency=args.concurrency)
        driver_cycle(sync)  # warm-up: imports, first compositions
        bare_loop(bmcs, args.concurrency, exact=False)
        bare, exact, driver = [], [], []
        for _ in range(args.repeat):  # interleaved, so load changes hit all three
            bare.append(bare_loop(bmcs, args.concurrency, exact=False))
            exact.append(bare_loop(bmcs, args.concurrency, exact=True))
            driver.append(driver_cycle(sync))
        for _, failures in bare + exact:
            for failure in failures[:3]:
                print("  failure: %s" % failure)
        failed = [s.failed for _, _, s in driver]
        read = [s.nodes for _, _, s in driver]
        base = common.median([w for w, _ in bare])
        rows.append(["bare ipmitool", args.bmcs, args.concurrency, base,
                     args.bmcs / base, 1.0, sum(len(f) for _, f in bare)])
        wall = common.median([w for w, _ in exact])
        rows.append(["bare, driver's flags", args.bmcs, args.concurrency, wall,
                     args.bmcs / wall, wall / base, sum(len(f) for _, f in exact)])
        wall = common.median([w for w, _, _ in driver])
        rows.append(["ipmi driver sync", min(read), args.concurrency, wall,
                     args.bmcs / wall, wall / base, sum(failed)])
        cpu = common.median([c for _, c, _ in driver])
    common.print_table(
        "IPMI power status over %d fake BMCs (median of %d; sync CPU %.2f s/cycle)"
        % (args.bmcs, args.repeat, cpu),
        ["path", "BMCs read", "concurrency", "wall s", "reads/s", "ratio", "failures"], rows)
    return rows


if __name__ == "__main__":
    main()
