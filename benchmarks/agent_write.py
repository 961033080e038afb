"""hwdrivers-agent write throughput vs ``curl -s URL | dd of=FILE bs=1M``.

The same image (random bytes, so nothing compresses or dedups) is served
by one local HTTP server (sendfile) and written to a file in the same
directory both ways: by a shell pipeline that only copies, and by a real
``hwdrivers-agent`` process running ``standby.prepare_image`` (download,
sha256 while streaming, write in place, verify), timed from the POST to
the command's SUCCEEDED. Each repetition runs both, alternating which goes
first; the median of each is reported with their ratio (target >= 0.8),
and the CPU seconds each used (the pipeline's processes; the agent
process): SHA-256 is most of the agent's, and on a busy machine the ratio
follows how much of a core the hasher gets.

Memory: the agent's peak resident set (VmHWM) after writing one image of a
quarter of ``--size-mib``, then one of the full size, and at the end: it
must not grow with the image (the agent streams through a fixed pool of
four 1 MiB buffers).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from tests.agent import servers  # noqa: E402

MiB = 1024 * 1024


def make_image(path, size_mib):
    """Random bytes; returns the sha256 computed while writing."""
    import hashlib
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(size_mib):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def curl_dd(url, target):
    """(seconds, CPU seconds) for the shell pipeline to copy ``url`` to ``target``."""
    cpu = children_cpu()
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c",
                    'curl -s "$0" | dd of="$1" bs=1M status=none', url, target],
                   check=True)
    return time.perf_counter() - started, children_cpu() - cpu


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Agent:
    """One hwdrivers-agent process with its own fake conductor and disk file."""

    def __init__(self, workdir, disk_bytes):
        self.conductor = servers.FakeConductor().start()
        self.node = str(uuid.uuid4())
        self.token = uuid.uuid4().hex + uuid.uuid4().hex
        self._peak = 0.0
        mac = "52:54:00:be:ec:%02x" % (os.getpid() % 256)
        self.conductor.add_node(mac, self.node, self.token)
        self.disk = os.path.join(workdir, "agent-disk.img")
        with open(self.disk, "wb") as handle:
            handle.truncate(disk_bytes)
        self.log = open(os.path.join(workdir, "agent.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hwdrivers.agent.cmd", "--api-url", self.conductor.url,
             "--mac", mac, "--listen-host", "127.0.0.1", "--listen-port", "0",
             "--advertise-host", "127.0.0.1", "--root-device", self.disk,
             "--lookup-interval", "0.1"],
            cwd=common.ROOT, stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.conductor.heartbeats_of(self.node):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("hwdrivers-agent did not start; see %s" % self.log.name)
            time.sleep(0.02)
        self.url = self.conductor.heartbeats_of(self.node)[0]["body"]["callback_url"]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            "%s%s%sagent_token=%s" % (self.url, path, "&" if "?" in path else "?", self.token),
            data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as resp:
            return json.loads(resp.read())

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def write(self, url, sha256):
        """(seconds from POST to SUCCEEDED, agent CPU seconds) for one prepare_image."""
        cpu = self.cpu_seconds()
        started = time.perf_counter()
        doc = self._call("POST", "/v1/commands/?wait=true", {
            "name": "standby.prepare_image",
            "params": {"image_info": {"id": "bench", "urls": [url], "disk_format": "raw",
                                      "os_hash_algo": "sha256", "os_hash_value": sha256}}})
        elapsed = time.perf_counter() - started
        if doc["command_status"] != "SUCCEEDED":
            raise RuntimeError("prepare_image failed: %s" % doc["command_error"])
        return elapsed, self.cpu_seconds() - cpu

    def peak_rss_mib(self):
        """The highest resident set seen so far (VmHWM, never lower than before).

        The kernel folds the current RSS into VmHWM when it is read but only
        records the high-water mark on some paths (unmaps, exit), so a later
        read can be a few pages below an earlier one: a peak is kept here.
        """
        self._peak = max(self._peak, vm_kib(self.proc.pid, "VmHWM") / 1024.0)
        return self._peak

    def rss_mib(self):
        rss = vm_kib(self.proc.pid, "VmRSS") / 1024.0
        self._peak = max(self._peak, rss)
        return rss

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.conductor.stop()
        self.log.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="image size (MiB)")
    parser.add_argument("--small", action="store_true", help="a 32 MiB image (tox -e bench)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    size = 32 if args.small else args.size_mib
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed (Debian: apt install curl)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwbench-agent-") as tmp, \
            servers.ImageServer() as images:
        small_size = max(1, size // 4)
        digests = {}
        for mib in sorted({small_size, size}):
            name = "image-%d.raw" % mib
            digests[mib] = make_image(os.path.join(tmp, name), mib)
            images.add(name, path=os.path.join(tmp, name))
        url = "%s/image-%d.raw" % (images.url, size)
        agent = Agent(tmp, size * MiB + 64 * MiB)
        try:
            started_rss = agent.rss_mib()
            # memory first: one write of the smaller image, then one of the full one
            agent.write("%s/image-%d.raw" % (images.url, small_size), digests[small_size])
            peak_small = agent.peak_rss_mib()
            agent.write(url, digests[size])
            peak_full = agent.peak_rss_mib()
            baseline, timed, dd_cpu, agent_cpu = [], [], [], []
            target = os.path.join(tmp, "dd-target.img")
            for rep in range(args.repeat):
                runs = [("dd", lambda: curl_dd(url, target)),
                        ("agent", lambda: agent.write(url, digests[size]))]
                for label, run in (runs if rep % 2 == 0 else runs[::-1]):
                    seconds, cpu = run()
                    (baseline if label == "dd" else timed).append(seconds)
                    (dd_cpu if label == "dd" else agent_cpu).append(cpu)
                os.unlink(target)
            peak_end = agent.peak_rss_mib()
        finally:
            agent.stop()
        mbps = size * MiB / 1e6
        dd_rate = mbps / common.median(baseline)
        agent_rate = mbps / common.median(timed)
        rows.append([size, args.repeat, dd_rate, agent_rate, agent_rate / dd_rate,
                     common.median(dd_cpu), common.median(agent_cpu)])
        common.print_table(
            "Agent write throughput (%d MiB raw image, local HTTP, median of %d; MB/s)"
            % (size, args.repeat),
            ["image MiB", "repeat", "curl|dd MB/s", "agent MB/s", "ratio (target >= 0.8)",
             "curl|dd CPU s", "agent CPU s"],
            rows)
        memory = [started_rss, small_size, peak_small, size, peak_full, peak_end]
        common.print_table(
            "Agent resident memory (MiB): flat whatever the image size",
            ["serving RSS", "image A MiB", "peak RSS after A", "image B MiB",
             "peak RSS after B", "peak after %d more" % (2 * args.repeat)], [memory])
    return [rows[0], memory]


if __name__ == "__main__":
    main()
