"""``hwdrivers-dbsync version`` where the configured SQLite file does not exist.

It "only reads", yet opening the file created it (and its directory), and it
answered "None (empty database: run 'hwdrivers-dbsync upgrade')": an operator
with a mistyped state_path was sent to create a second, empty database
beside the real one. It now says there is no file there, what chose the
path, and creates nothing.
"""

import os
import subprocess
import sys


def test_version_of_a_missing_file_creates_nothing_and_says_where_it_looked(tmp_path):
    state = tmp_path / "typo" / "state"
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "hwdrivers-dbsync"), "version"],
        capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
        env=dict(os.environ, HWDRIVERS_STATE_PATH=str(state)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None (no database file at %s)" % (
        state / "hwdrivers.sqlite")
    assert "chosen by HWDRIVERS_STATE_PATH" in result.stderr, result.stderr
    assert "Nothing was created" in result.stderr
    assert not (tmp_path / "typo").exists()
