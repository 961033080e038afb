"""benchmarks/api_instructions.py: its child drives the real request path; its count runs.

Its own file so the callgrind run (about half a minute) lands on a test
worker of its own. No count is asserted beyond being positive: what the
benchmark exists to prove is that every request was answered as a client
expects (statuses, the state reached), and that the figure is computed.
"""

import json
import shutil
import subprocess
import sys

import pytest

from benchmarks import api_instructions


@pytest.mark.parametrize("mode, expected", [
    ("power", {"200": 1 + 2 * 3 + 4, "202": 2 * 3 + 4}),
    ("get", {"200": 1 + 2 * 3 + 4, "202": 2 * 3}),
    ("detail", {"200": 1 + 2 + 4}),  # two pages to warm up; each lists the 3 nodes
])
def test_the_child_answers_every_request(tmp_path, mode, expected):
    """Without valgrind: each PUT a 202, each GET a 200 showing the target reached."""
    proc = subprocess.run(
        [sys.executable, "-c", api_instructions.CHILD, api_instructions.ROOT,
         api_instructions.ROOT, mode, "4", "3"],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_the_benchmark_counts_instructions_per_request():
    rows = api_instructions.main(["--modes", "GET states", "--requests", "0,3", "--nodes",
                                  "1", "--repeat", "1"])
    assert [(r[0], r[1]) for r in rows] == [("GET states", "after")]
    assert rows[0][2] > 10  # thousands of instructions: a request did run
    assert rows[0][4] == 1.0


def test_bad_arguments_are_named():
    with pytest.raises(SystemExit):
        api_instructions.main(["--requests", "5,5"])
    with pytest.raises(SystemExit):
        api_instructions.main(["--modes", "nothing"])
