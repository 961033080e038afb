"""A key file that cannot be written is the key file's error, not the database's.

Writing it (a new installation's first key, ``add-secrets-key``) raised the
bare OSError: hwdrivers-dbsync printed "cannot use the database ...: [Errno
17] File exists" (a full disk: "No space left on device"), blaming the
database, and the server took the failed directory creation for another
process having made the file first. Both now name ``[secrets] key_file``.
"""

import os
import subprocess
import sys

import pytest

from hwdrivers.common import secrets


@pytest.fixture
def blocked(tmp_path):
    """A key file path whose directory is a regular file."""
    (tmp_path / "not-a-dir").write_text("")
    return str(tmp_path / "not-a-dir" / "secrets.key")


def test_adding_or_creating_a_key_names_the_option_and_the_obstacle(blocked):
    for write in (lambda: secrets.add_key(blocked),
                  lambda: secrets.Keyring(blocked, create=True)):
        with pytest.raises(secrets.KeyFileError) as caught:
            write()
        message = str(caught.value)
        assert message.startswith("[secrets] key_file %s cannot be written: " % blocked)
        assert "not-a-dir is not a directory" in message, message


def test_dbsync_does_not_blame_the_database(tmp_path, blocked):
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    config = tmp_path / "hwdrivers.conf"
    config.write_text("[secrets]\nkey_file = %s\n" % blocked)
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "hwdrivers-dbsync"),
         "--config-file", str(config), "add-secrets-key"],
        capture_output=True, text=True, timeout=60, env=env, cwd=str(tmp_path))
    assert result.returncode == 1
    assert "cannot use the database" not in result.stderr, result.stderr
    assert "[secrets] key_file %s cannot be written" % blocked in result.stderr
