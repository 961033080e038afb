"""doc/drivers/ must say exactly what the declarations enforce."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_in_tree_driver_page_exists_and_is_current():
    # A fresh interpreter: the tool overrides the global config it loads.
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "gen_driver_docs.py"), "--check"],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
