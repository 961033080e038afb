"""reencrypt-secrets writes node rows: only of a schema this hwdrivers knows.

Run with the real ``hwdrivers-dbsync`` on a real SQLite database.
"""

import os
import sqlite3
import subprocess
import sys

BIN = os.path.dirname(sys.executable)


def _dbsync(tmp_path, *args):
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    return subprocess.run([os.path.join(BIN, "hwdrivers-dbsync")] + list(args),
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=str(tmp_path))


def test_before_the_first_upgrade_it_says_to_upgrade(tmp_path):
    """It failed with 'cannot use the database ...: no such table: nodes'."""
    result = _dbsync(tmp_path, "reencrypt-secrets")
    assert result.returncode == 1, result.stdout
    assert "has no schema yet: run 'hwdrivers-dbsync upgrade' first" in result.stderr
    assert "no such table" not in result.stderr


def test_a_schema_from_a_newer_hwdrivers_is_left_to_it(tmp_path):
    """It rewrote the nodes of a schema revision it does not know (and said
    'Checked 0 node(s)' with exit 0), where the services and upgrade refuse
    to touch it: a newer hwdrivers may store secrets its own way."""
    assert _dbsync(tmp_path, "upgrade").returncode == 0
    with sqlite3.connect(tmp_path / "state" / "hwdrivers.sqlite") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    result = _dbsync(tmp_path, "reencrypt-secrets")
    assert result.returncode == 1, result.stdout
    assert "is at schema revision 9999, which this hwdrivers does not know" in (
        result.stderr)
    assert "nothing was changed" in result.stderr
    assert not (tmp_path / "state" / "secrets.key").exists()
