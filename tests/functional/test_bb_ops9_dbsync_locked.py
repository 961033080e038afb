"""The schema upgrade (hwdrivers-dbsync, the services' start-up) of a locked SQLite database.

The write lock is taken by the BEGIN hwdrivers issues on the raw sqlite3
connection, whose error SQLAlchemy does not wrap: an upgrade died with a
traceback ending in ``sqlite3.OperationalError: database is locked``. It is
now one line naming the file, the option that bounds the wait and the fix.
"""

import os
import sqlite3
import subprocess
import sys


def _dbsync(tmp_path, *args):
    config = tmp_path / "hwdrivers.conf"
    config.write_text("[DEFAULT]\nstate_path = %s\n[database]\nsqlite_busy_timeout = 0.2\n"
                      % (tmp_path / "state"))
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "hwdrivers-dbsync"),
         "--config-file", str(config)] + list(args),
        capture_output=True, text=True, timeout=60, cwd=str(tmp_path))


def test_an_upgrade_of_a_locked_database_is_one_line_and_changes_nothing(tmp_path):
    assert _dbsync(tmp_path, "upgrade", "--revision", "0005").returncode == 0
    holder = sqlite3.connect(tmp_path / "state" / "hwdrivers.sqlite", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # as a server in the middle of a write
        result = _dbsync(tmp_path, "upgrade")
    finally:
        holder.close()
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    [line] = result.stderr.splitlines()
    assert "database is locked" in line
    assert "[database] sqlite_busy_timeout = 0.2s" in line
    assert "nothing was changed" in line
    assert _dbsync(tmp_path, "version").stdout.strip() == "0005"


def test_a_server_starting_on_a_locked_old_schema_says_so_in_one_line(tmp_path):
    """The server's start-up upgrade died the same way, traceback and all."""
    assert _dbsync(tmp_path, "upgrade", "--revision", "0005").returncode == 0
    holder = sqlite3.connect(tmp_path / "state" / "hwdrivers.sqlite", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "hwdrivers-server"),
             "--config-file", str(tmp_path / "hwdrivers.conf"), "--port", "0"],
            capture_output=True, text=True, timeout=60, cwd=str(tmp_path))
    finally:
        holder.close()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert ("hwdrivers-server: error: cannot use the database %s" % (
        tmp_path / "state" / "hwdrivers.sqlite")) in result.stderr
    assert "[database] sqlite_busy_timeout = 0.2s" in result.stderr


def test_a_write_to_a_locked_database_says_locked_not_operational_error(tmp_path):
    """The local CLI's write said "The database is unavailable (OperationalError)":
    sqlite3's own error from the BEGIN was shown by its class name alone."""
    assert _dbsync(tmp_path, "upgrade").returncode == 0
    holder = sqlite3.connect(tmp_path / "state" / "hwdrivers.sqlite", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), "hwdrivers"),
             "--config-file", str(tmp_path / "hwdrivers.conf"),
             "node", "create", "--driver", "fake-hardware", "--name", "n1"],
            capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
            env=dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state")))
    finally:
        holder.close()
    assert result.returncode == 1, result.stdout
    assert "(OperationalError)" not in result.stderr, result.stderr
    assert ("database is locked (another process, such as a running hwdrivers-server, "
            "held its write lock for over [database] sqlite_busy_timeout = 0.2s)"
            in result.stderr), result.stderr
