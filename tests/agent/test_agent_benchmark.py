"""benchmarks/agent_write.py runs at a tiny size and proves what it exists to prove.

No timing is asserted: the agent wrote the image (the benchmark raises if
prepare_image fails), both rates were measured, and the agent's peak
memory did not grow with the image.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_agent_write_benchmark_tiny():
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian: apt install curl)")
    code = ("import json, sys; from benchmarks import agent_write as b; "
            "rows = b.main(sys.argv[1:]); print('ROWS=' + json.dumps(rows))")
    proc = subprocess.run([sys.executable, "-c", code, "--size-mib", "16", "--repeat", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text, _, rows = proc.stdout.rpartition("ROWS=")
    assert "Agent write throughput" in text and "Agent resident memory" in text
    (size, repeat, dd_rate, agent_rate, ratio, dd_cpu, agent_cpu), memory = json.loads(rows)
    assert (size, repeat) == (16, 1)
    assert dd_rate > 0 and agent_rate > 0 and ratio > 0 and dd_cpu >= 0 and agent_cpu > 0
    serving, small_mib, peak_small, full_mib, peak_full, peak_end = memory
    assert (small_mib, full_mib) == (4, 16)
    assert 0 < serving <= peak_small <= peak_full < peak_small + 8  # flat, not + image size
    assert peak_full <= peak_end < peak_full + 8
