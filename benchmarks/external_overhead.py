"""What the per-call supervisor costs: an external driver run bare vs supervised.

Every run of an external driver goes through ``hwdrivers.common.supervised``:
a small Python process (``hwdrivers/common/reaper.py``, a child subreaper)
sits between the conductor and the driver so that the call ends when the
driver exits and nothing it started survives. This measures what that adds
per call, for two drivers answering ``power_query`` at once:

* ``sh``: a POSIX sh script printing the answer (the cheapest real driver);
* ``python``: a Python script reading its JSON input and printing the answer.

Each is run ``--calls`` times in a row with ``subprocess.run`` (bare: pipes,
the same minimal environment, nothing else) and with ``supervised.run``
(what ``external.run`` does), interleaved so load changes hit both. The
table gives the median and p90 milliseconds per call and the median added
by the supervisor.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.common import environment  # noqa: E402
from hwdrivers.common import supervised  # noqa: E402

ANSWER = '{"action_type": "power_query", "error": null, "data": {"status": "on"}}'
DRIVERS = {
    "sh": "#!/bin/sh\ncat > /dev/null\necho '%s'\n" % ANSWER,
    "python": ("#!%s -S\nimport json, sys\njson.load(sys.stdin)\nprint(%r)\n"
               % (sys.executable, ANSWER)),
}
PAYLOAD = json.dumps({"driverParameters": {"power_address": "10.0.0.1",
                                           "power_pass": "x"}}).encode()


def bare(path):
    began = time.perf_counter()
    proc = subprocess.run([path, "power_query"], input=PAYLOAD, capture_output=True,
                          env=environment.minimal(), cwd="/", timeout=30)
    elapsed = time.perf_counter() - began
    return elapsed, proc.returncode == 0 and json.loads(proc.stdout)["data"]["status"] == "on"


def supervised_call(path):
    began = time.perf_counter()
    done = supervised.run([path, "power_query"], PAYLOAD, timeout=30)
    elapsed = time.perf_counter() - began
    return elapsed, done.returncode == 0 and json.loads(done.stdout)["data"]["status"] == "on"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for name, text in DRIVERS.items():
            path = os.path.join(directory, name)
            with open(path, "w") as handle:
                handle.write(text)
            os.chmod(path, 0o755)
            bare(path)  # warm-up: page cache, interpreter files
            supervised_call(path)
            times = {"bare": [], "supervised": []}
            failures = 0
            for _ in range(args.calls):
                for label, func in (("bare", bare), ("supervised", supervised_call)):
                    elapsed, ok = func(path)
                    times[label].append(elapsed * 1000)
                    failures += not ok
            base = common.median(times["bare"])
            for label, values in times.items():
                value = common.median(values)
                rows.append([name, label, args.calls, value, common.percentile(values, 0.9),
                             value - base, failures if label == "supervised" else 0])
    common.print_table(
        "External driver run, bare vs through the supervisor (ms per call)",
        ["driver", "path", "calls", "median ms", "p90 ms", "added ms", "failures"], rows)
    return rows


if __name__ == "__main__":
    main()
