"""A fleet deployed at once: N simulated machines, one raw image, the real deploy path.

``hwdrivers-server`` (a subprocess), a local HTTP image server and N
simulated machines (hwdrivers.testing.simulator) enrolled as ``sim`` nodes
through the API (tests/functional/deploy_env.py). All N deploys are asked
for at once; each machine boots over the iPXE chain, its ``hwdrivers-agent``
process streams the image onto its disk file, and the node reaches
``active`` after booting its disk. Reported: deploys per minute (N over the
time from the first request to the last ``active``), the conductor
process's CPU seconds per deploy (user+system, its whole process), its peak
resident set (VmHWM), and the largest peak resident set of any agent
(sampled every 0.2 s while they run; it must not grow with the image).
"""

import argparse
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from tests.functional import deploy_env  # noqa: E402

MiB = 1024 * 1024


def _proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class AgentWatcher(threading.Thread):
    """Largest VmHWM of any agent process of the machines, sampled until stopped."""

    def __init__(self, machines):
        super().__init__(daemon=True)
        self.machines = machines
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            for machine in self.machines:
                pid = machine.state().get("pid")
                if pid:
                    self.peak = max(self.peak, _proc_status(pid, "VmHWM"))


def run(nodes, image_mib, tmp):
    import pathlib

    env = deploy_env.DeployEnv(pathlib.Path(tmp), deploy_options={
        "heartbeat_timeout": 10, "callback_timeout": 600,
        "image_download_timeout": 1800}).start()
    try:
        url, digest, _ = env.add_image("fleet.img", size=image_mib * MiB, marker="fleet")
        machines = []
        for n in range(nodes):
            machine, _ = env.add_machine(
                "n%03d" % n, disk_size=(image_mib + 128) * MiB,
                instance_info={"image_source": url, "image_os_hash_algo": "sha256",
                               "image_os_hash_value": digest, "image_disk_format": "raw"})
            machines.append(machine)
            env.make_available("n%03d" % n)
        server_pid = env.server.proc.pid
        cpu_before = _cpu_seconds(server_pid)
        watcher = AgentWatcher(machines)
        watcher.start()
        started = time.perf_counter()
        for n in range(nodes):
            env.deploy("n%03d" % n)
        for n in range(nodes):
            env.wait_state("n%03d" % n, "active", timeout=3600)
        elapsed = time.perf_counter() - started
        watcher.stop.set()
        watcher.join()
        cpu = _cpu_seconds(server_pid) - cpu_before
        return {"nodes": nodes, "image_mib": image_mib, "seconds": elapsed,
                "deploys_per_min": nodes / elapsed * 60.0, "cpu_s_per_deploy": cpu / nodes,
                "conductor_peak_mib": _proc_status(server_pid, "VmHWM"),
                "agent_peak_mib": watcher.peak}
    finally:
        env.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--image-mib", type=int, default=256)
    parser.add_argument("--small", action="store_true", help="4 nodes, an 8 MiB image")
    args = parser.parse_args(argv)
    if args.small:
        args.nodes, args.image_mib = 4, 8
    print("Machine: %s" % common.machine())
    with tempfile.TemporaryDirectory(prefix="hwdrivers-deploy-fleet-") as tmp:
        result = run(args.nodes, args.image_mib, tmp)
    columns = ["nodes", "image MiB", "seconds", "deploys/min", "conductor CPU s/deploy",
               "conductor peak RSS MiB", "agent peak RSS MiB"]
    common.print_table("Fleet deploy (all at once, iPXE + hwdrivers-agent, raw image)",
                       columns, [[result["nodes"], result["image_mib"], result["seconds"],
                                  result["deploys_per_min"], result["cpu_s_per_deploy"],
                                  result["conductor_peak_mib"], result["agent_peak_mib"]]])
    return [result]


if __name__ == "__main__":
    main()
