"""add-secrets-key where an operator first meets it: before the schema, on an empty file.

Run with the real ``hwdrivers-dbsync`` and ``hwdrivers`` on a real SQLite
database and key file, as an operator types them.
"""

import os
import subprocess
import sys

from hwdrivers.common import secrets

BIN = os.path.dirname(sys.executable)


def _run(tmp_path, *args, stdin=None):
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    env.pop("HWDRIVERS_URL", None)
    return subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]), input=stdin,
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=str(tmp_path))


def test_a_key_made_before_the_first_upgrade(tmp_path):
    """Making the key file first, to copy it to every host before the services
    start, failed with 'cannot use the database ...: no such table: nodes':
    the check for secrets sealed by a lost key read a table that does not
    exist yet. A database without a schema holds no secrets: the key is made."""
    result = _run(tmp_path, "hwdrivers-dbsync", "add-secrets-key")
    assert result.returncode == 0, result.stderr
    assert len(secrets.read_key_file(str(tmp_path / "state" / "secrets.key"))) == 1
    result = _run(tmp_path, "hwdrivers-dbsync", "upgrade")
    assert result.returncode == 0, result.stderr


def test_an_empty_key_file_gets_a_key_unless_secrets_need_the_lost_one(tmp_path):
    """An empty key file (touch, a truncated copy) stopped everything with 'holds
    no key; add one with hwdrivers-dbsync add-secrets-key', and that command
    refused it with the same words. It now adds the first key -- unless the
    database holds encrypted secrets, which only the lost key opens: then it
    refuses as for a missing file, naming it, and writes nothing."""
    state = tmp_path / "state"
    state.mkdir()
    key_file = state / "secrets.key"
    key_file.touch(mode=0o600)
    assert _run(tmp_path, "hwdrivers-dbsync", "upgrade").returncode == 0

    result = _run(tmp_path, "hwdrivers-dbsync", "add-secrets-key")
    assert result.returncode == 0, result.stderr
    assert len(secrets.read_key_file(str(key_file))) == 1

    result = _run(tmp_path, "hwdrivers", "node", "create", "--driver", "ipmi", "--name",
                  "db1", "--driver-info", "ipmi_address=10.0.0.1",
                  "--driver-info", "ipmi_password=-", stdin="pw-ops9-canary\n")
    assert result.returncode == 0, result.stderr
    key_file.write_text("")
    result = _run(tmp_path, "hwdrivers-dbsync", "add-secrets-key")
    assert result.returncode == 1, result.stdout
    assert ("secrets.key holds no key, but the database holds encrypted secrets: "
            "restore the key file") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert key_file.read_text() == ""
