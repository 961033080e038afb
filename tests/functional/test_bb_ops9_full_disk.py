"""An SQLite database on a full file system, met by a process that starts then.

Such a process cannot create the database's -shm file, and SQLite says only
"disk I/O error": hwdrivers-dbsync, the server and the CLI printed that and
"retry later", which reads as failing hardware. They now say that the file
system holding the database is full.
"""

import os
import subprocess
import sys

import pytest


@pytest.fixture
def small_disk(tmp_path):
    path = tmp_path / "disk"
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.strip())
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _dbsync(tmp_path, state, *args):
    config = tmp_path / "hwdrivers.conf"
    config.write_text("[DEFAULT]\nstate_path = %s\n" % state)
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "hwdrivers-dbsync"),
         "--config-file", str(config)] + list(args),
        capture_output=True, text=True, timeout=60, cwd=str(tmp_path))


def test_a_full_disk_is_named_not_taken_for_an_io_error(tmp_path, small_disk):
    state = small_disk / "state"
    assert _dbsync(tmp_path, state, "upgrade").returncode == 0
    assert not os.path.exists(str(state / "hwdrivers.sqlite-shm"))  # closed cleanly
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 65536):
            pass
    except OSError:
        pass  # ENOSPC
    finally:
        os.close(fd)
    for action in ("version", "upgrade"):
        result = _dbsync(tmp_path, state, action)
        assert result.returncode == 1, (action, result.stdout)
        assert ("(the file system holding %s is full: free space there, then retry)"
                % state) in result.stderr, (action, result.stderr)
