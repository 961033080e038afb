"""benchmarks/_conductor_list.py completes at a tiny size and counts every node.

No timing is asserted (doc/performance.md has the figures): the script runs
in its own interpreter, as a benchmark does, on a private PostgreSQL schema.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_conductor_list_benchmark_counts_every_node(tmp_path):
    code = ("import json, sys; from benchmarks import _conductor_list as b; "
            "rows = b.main(sys.argv[1:]); print('ROWS=' + json.dumps(rows))")
    proc = subprocess.run([sys.executable, "-c", code, "--nodes", "60", "--calls", "1",
                           "--repeat", "1", "--before", str(tmp_path / "none")],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text, _, rows = proc.stdout.rpartition("ROWS=")
    assert "GET /v1/conductors, in process" in text
    by_query = {row[0]: row for row in json.loads(rows)}
    assert set(by_query) == {"list", "list --fields", "show"}
    assert by_query["list"][-1] == "60" and by_query["list --fields"][-1] == "0"
