"""``hwdrivers-dbsync version`` on an SQLite file this user may only read.

A WAL database opened the usual way writes its ``-shm`` file, so asking the
revision of a database owned by another user, or in a read-only directory,
failed with "the database file ... is read-only". ``version`` only reads:
it opens such a file read-only.

The tests run as root, whom file modes do not stop: the command runs as
root without capabilities (``setpriv``), for which a 0444 file in a 0555
directory is read-only like for anyone else.
"""

import os
import shutil
import subprocess
import sys

import pytest

from hwdrivers.db import migration

BIN = os.path.dirname(sys.executable)


def _run(tmp_path, *args):
    command = [os.path.join(BIN, "hwdrivers-dbsync"), "--config-file",
               str(tmp_path / "hwdrivers.conf")] + list(args)
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv is needed to run a command as root without privileges")
        command = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] + command
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "s")))


@pytest.fixture
def read_only_db(tmp_path):
    """A migrated SQLite file, 0444 in a 0555 directory; yields its path."""
    directory = tmp_path / "db"
    directory.mkdir()
    path = directory / "hwdrivers.sqlite"
    (tmp_path / "hwdrivers.conf").write_text("[database]\nconnection = sqlite:///%s\n" % path)
    result = subprocess.run([os.path.join(BIN, "hwdrivers-dbsync"), "--config-file",
                             str(tmp_path / "hwdrivers.conf"), "upgrade"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    yield path
    directory.chmod(0o755)


def _seal(path):
    for name in os.listdir(path.parent):
        os.chmod(path.parent / name, 0o444)
    path.parent.chmod(0o555)


def test_version_reads_a_read_only_database(tmp_path, read_only_db):
    _seal(read_only_db)
    before = sorted(os.listdir(read_only_db.parent))
    result = _run(tmp_path, "version")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (
        0, migration.script_head(), ""), result.stderr
    assert sorted(os.listdir(read_only_db.parent)) == before


def test_changes_it_cannot_read_are_one_line_naming_the_file(tmp_path, read_only_db):
    # A process that died with changes in the -wal file, not yet in the database
    subprocess.run([sys.executable, "-c", (
        "import os, sqlite3; c = sqlite3.connect(%r, isolation_level=None); "
        "c.execute('PRAGMA wal_autocheckpoint = 0'); "
        "c.execute('CREATE TABLE later (x)'); os._exit(0)") % str(read_only_db)],
        check=True, timeout=60)
    os.unlink(str(read_only_db) + "-shm")
    _seal(read_only_db)
    result = _run(tmp_path, "version")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        "hwdrivers-dbsync: error: the database file %s cannot be read by this user: "
        "%s-wal holds changes not yet in it" % (read_only_db, read_only_db)), result.stderr
