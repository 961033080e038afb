"""Operators and the secrets key file: a lost file is never replaced silently.

Run with the real commands an operator types (``hwdrivers`` locally,
``hwdrivers-dbsync``) on a real SQLite database and key file.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys

from cryptography import fernet

from hwdrivers.common import secrets

BIN = os.path.dirname(sys.executable)
CANARY = "Canary-ops-pw-91c2"


def _run(tmp_path, *args, stdin=None):
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    env.pop("HWDRIVERS_URL", None)
    return subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]), input=stdin,
                          capture_output=True, text=True, timeout=120, env=env,
                          cwd=str(tmp_path))


def _create(tmp_path, name, password):
    return _run(tmp_path, "hwdrivers", "node", "create", "--driver", "ipmi", "--name",
                name, "--driver-info", "ipmi_address=10.0.0.1",
                "--driver-info", "ipmi_password=-", stdin=password + "\n")


def _token(tmp_path, name):
    with sqlite3.connect(tmp_path / "state" / "hwdrivers.sqlite") as conn:
        [(info,)] = conn.execute("SELECT driver_info FROM nodes WHERE name = ?", (name,))
    conn.close()
    return json.loads(info)["ipmi_password"][secrets.ENVELOPE]


def test_a_lost_key_file_is_not_replaced_by_a_new_key(tmp_path):
    """With the key file gone, writing a secret, add-secrets-key and
    reencrypt-secrets each used to make a new key file: values written then
    were sealed with a key the restored file lacks (unreadable once it is
    back). Each now fails naming the file, and writes nothing."""
    result = _create(tmp_path, "db1", CANARY)
    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "state" / "secrets.key"
    shutil.move(key_file, tmp_path / "backup.key")

    for result in (_create(tmp_path, "db2", "other-pw"),
                   _run(tmp_path, "hwdrivers-dbsync", "add-secrets-key"),
                   _run(tmp_path, "hwdrivers-dbsync", "reencrypt-secrets")):
        assert result.returncode == 1, (result.args, result.stdout, result.stderr)
        assert "secrets.key does not exist, but the database holds encrypted" in (
            result.stderr), result.stderr
        assert "Traceback" not in result.stderr
        assert CANARY not in result.stdout + result.stderr
        assert not key_file.exists(), result.args

    # The backup put back: everything reads, nothing was sealed with another key.
    shutil.move(tmp_path / "backup.key", key_file)
    result = _create(tmp_path, "db2", "other-pw")
    assert result.returncode == 0, result.stderr
    [key] = secrets.read_key_file(str(key_file))
    for name, password in (("db1", CANARY), ("db2", "other-pw")):
        assert json.loads(fernet.Fernet(key).decrypt(_token(tmp_path, name).encode())) == (
            password)
    result = _run(tmp_path, "hwdrivers-dbsync", "reencrypt-secrets")
    assert result.returncode == 0, result.stderr


def test_a_really_lost_key_starts_over_with_forget_unreadable(tmp_path):
    assert _create(tmp_path, "db1", CANARY).returncode == 0
    key_file = tmp_path / "state" / "secrets.key"
    os.unlink(key_file)
    result = _run(tmp_path, "hwdrivers-dbsync", "reencrypt-secrets", "--forget-unreadable")
    assert result.returncode == 0, result.stderr
    assert "Removed unreadable driver_info field ipmi_password of node db1" in result.stdout
    assert key_file.exists()
    result = _create(tmp_path, "db2", "new-pw")
    assert result.returncode == 0, result.stderr


def test_a_wrong_key_file_seals_nothing(tmp_path):
    """Another installation's key file in place: the local CLI (no service start
    to check it) must not seal new values with it, which the right file could
    then not open; it says which file, and writes nothing."""
    assert _create(tmp_path, "wk1", CANARY).returncode == 0
    key_file = tmp_path / "state" / "secrets.key"
    shutil.move(key_file, tmp_path / "right.key")
    secrets.Keyring(str(key_file), create=True)  # a valid key, not this database's
    result = _create(tmp_path, "wk2", "other-pw")
    assert result.returncode == 1, result.stderr
    assert "secrets.key does not open the secrets already stored" in result.stderr
    assert "[secrets] key_file" in result.stderr and "Traceback" not in result.stderr
    assert CANARY not in result.stdout + result.stderr
    with sqlite3.connect(tmp_path / "state" / "hwdrivers.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM nodes WHERE name = 'wk2'").fetchone() == (0,)
    conn.close()
    shutil.move(tmp_path / "right.key", key_file)
    assert _create(tmp_path, "wk2", "other-pw").returncode == 0
