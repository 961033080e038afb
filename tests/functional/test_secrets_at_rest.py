"""driver_info secrets at rest: encrypted in the database, plain above it.

Every test reads the rows back with plain SQL on its own connection (what a
copied database file or a backup gives an attacker) on SQLite and PostgreSQL,
and checks that the API, the task a driver gets and the CLI's database layer
see the values they always saw.
"""

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys

import pytest
import sqlalchemy as sa
from cryptography import fernet

from hwdrivers import conf as hw_conf
from hwdrivers.api import app as app_mod
from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import secrets
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from tests.api.conftest import Client, Service, error_of
from tests.functional.server_proc import ServerProcess

CONF = hw_conf.CONF
CTX = hw_context.get_admin_context()
CANARY = "Canary-BMC-pw-5d1e"
IPMI_NODE = {"driver": "ipmi", "name": "db1",
             "driver_info": {"ipmi_address": "127.0.0.1", "ipmi_username": "admin",
                             "ipmi_password": CANARY}}


@pytest.fixture
def api(database):
    service = Service()
    try:
        yield Client(app_mod.create_app(service).test_client())
    finally:
        service.manager.workers.shutdown(wait=True, timeout=10)


def raw_rows():
    """Every column of every node as text, on a connection of its own."""
    engine = sa.create_engine(CONF.database.connection)
    try:
        with engine.connect() as conn:
            return [{k: (v if isinstance(v, str) else json.dumps(v, default=str))
                     for k, v in row._mapping.items()}
                    for row in conn.execute(sa.text("SELECT * FROM nodes"))]
    finally:
        engine.dispose()


def sqlite_files():
    """The bytes of the SQLite database and its WAL."""
    path = sa.engine.make_url(CONF.database.connection).database
    blobs = []
    for name in (path, path + "-wal"):
        if os.path.exists(name):
            with open(name, "rb") as handle:
                blobs.append(handle.read())
    return blobs


def raw_driver_info(name):
    [row] = [r for r in raw_rows() if r["name"] == name]
    return json.loads(row["driver_info"])


def test_secret_created_through_the_api_is_encrypted_in_the_row(api, database):
    resp = api.post("/v1/nodes", IPMI_NODE)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["driver_info"]["ipmi_password"] == "******"

    rows = raw_rows()
    assert CANARY not in json.dumps(rows)
    stored = raw_driver_info("db1")
    assert stored["ipmi_username"] == "admin"  # only declared secrets are encrypted
    assert set(stored["ipmi_password"]) == {secrets.ENVELOPE}
    key_file = CONF.secrets.key_file
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with open(key_file) as handle:
        key = [line for line in handle.read().split() if not line.startswith("#")
               and len(line) == 44][0]
    token = stored["ipmi_password"][secrets.ENVELOPE].encode()
    assert json.loads(fernet.Fernet(key.encode()).decrypt(token)) == CANARY

    # Above the database nothing changed: the API masks, drivers get the value.
    assert api.get("/v1/nodes/db1").get_json()["driver_info"]["ipmi_password"] == "******"
    assert db_api.get_node("db1")["driver_info"]["ipmi_password"] == CANARY
    with task_manager.acquire(CTX, "db1", purpose="test") as task:
        assert task.node.driver_info["ipmi_password"] == CANARY
        task.node.extra = {"touched": True}
        task.node.save(expected_reservation=task.owner)

    # Changing another field keeps the secret, still encrypted.
    resp = api.patch("/v1/nodes/db1", [{"op": "replace", "path": "/driver_info/ipmi_username",
                                        "value": "root"}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    stored = raw_driver_info("db1")
    assert stored["ipmi_username"] == "root" and secrets.is_sealed(stored["ipmi_password"])
    assert CANARY not in json.dumps(raw_rows())
    assert db_api.get_node("db1")["driver_info"]["ipmi_password"] == CANARY
    listed = db_api.list_nodes()
    assert listed[0]["driver_info"]["ipmi_password"] == CANARY


def test_without_the_key_nothing_leaks_and_reads_fail_clearly(api, database, tmp_path):
    assert api.post("/v1/nodes", IPMI_NODE).status_code == 201
    assert api.post("/v1/nodes", {"driver": "fake-hardware", "name": "plain"}).status_code == 201
    if database == "sqlite":
        # The files a copy or backup takes, byte for byte.
        blobs = sqlite_files()
        assert blobs and not any(CANARY.encode() in blob for blob in blobs)

    # Another key (a copied database on a host with its own key file).
    CONF.set_override("key_file", str(tmp_path / "other.key"), group="secrets")
    secrets.Keyring(str(tmp_path / "other.key"), create=True)
    resp = api.get("/v1/nodes/db1")
    assert resp.status_code == 503
    message = error_of(resp)
    assert "Node db1: driver_info field ipmi_password cannot be decrypted" in message
    assert str(tmp_path / "other.key") in message and CANARY not in message
    # Not an empty password either: the driver never gets a value.
    with pytest.raises(secrets.SecretUnreadable):
        db_api.get_node("db1")
    # A node without secrets is unaffected.
    assert api.get("/v1/nodes/plain").status_code == 200

    # No key file at all.
    CONF.set_override("key_file", str(tmp_path / "absent.key"), group="secrets")
    resp = api.get("/v1/nodes/db1")
    assert resp.status_code == 503
    assert "absent.key does not exist" in error_of(resp)
    with pytest.raises(secrets.KeyFileError, match="absent.key does not exist"):
        db_api.check_secrets_key()  # what the server runs before serving
    assert not os.path.exists(tmp_path / "absent.key")  # never replaced by a new key


def test_rotation_reencrypts_every_row_and_old_keys_can_go(api, database):
    for number in range(3):
        body = dict(IPMI_NODE, name="db%d" % number)
        assert api.post("/v1/nodes", body).status_code == 201
    key_file = CONF.secrets.key_file
    assert secrets.add_key(key_file) == 2
    # Old rows stay readable while both keys are in the file.
    secrets.forget_keyrings()
    assert db_api.get_node("db0")["driver_info"]["ipmi_password"] == CANARY

    report = db_api.reencrypt_node_secrets()
    assert (report["nodes"], report["resealed"], report["changed"]) == (3, 3, 3)
    assert report["unreadable"] == [] and report["busy"] == 0
    assert db_api.reencrypt_node_secrets()["changed"] == 0  # nothing left to do

    # Keep only the newest key: everything still reads.
    keys = secrets.read_key_file(key_file)
    secrets.write_key_file(key_file, keys[:1])
    secrets.forget_keyrings()
    for number in range(3):
        assert db_api.get_node("db%d" % number)["driver_info"]["ipmi_password"] == CANARY
    newest = fernet.Fernet(keys[0])
    for number in range(3):
        token = raw_driver_info("db%d" % number)["ipmi_password"][secrets.ENVELOPE]
        assert json.loads(newest.decrypt(token.encode())) == CANARY


def test_unreadable_values_are_reported_or_forgotten(api, database, tmp_path):
    assert api.post("/v1/nodes", IPMI_NODE).status_code == 201
    CONF.set_override("key_file", str(tmp_path / "lost.key"), group="secrets")
    # No key file at all is an error (a new key would seal values the restored
    # file cannot open); another key is reported.
    with pytest.raises(secrets.KeyFileError, match="lost.key does not exist"):
        db_api.reencrypt_node_secrets()
    secrets.Keyring(str(tmp_path / "lost.key"), create=True)
    report = db_api.reencrypt_node_secrets()
    assert report["unreadable"] == [("db1", "ipmi_password")] and report["changed"] == 0
    report = db_api.reencrypt_node_secrets(forget_unreadable=True)
    assert report["forgotten"] == [("db1", "ipmi_password")]
    info = db_api.get_node("db1")["driver_info"]
    assert "ipmi_password" not in info and info["ipmi_username"] == "admin"
    # The field can be set again, and is encrypted with the key in use.
    resp = api.patch("/v1/nodes/db1", [{"op": "add", "path": "/driver_info/ipmi_password",
                                        "value": "new-pw"}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert db_api.get_node("db1")["driver_info"]["ipmi_password"] == "new-pw"


def test_rows_stored_in_plain_text_are_encrypted_at_start(database):
    factory.get_registry()
    node = db_api.create_node({"driver": "ipmi", "name": "legacy"})
    engine = sa.create_engine(CONF.database.connection)
    with engine.begin() as conn:  # what a database from before encryption holds
        conn.execute(sa.text("UPDATE nodes SET driver_info = :info WHERE id = :id"),
                     {"info": json.dumps(IPMI_NODE["driver_info"]), "id": node["id"]})
    engine.dispose()
    assert raw_driver_info("legacy")["ipmi_password"] == CANARY
    report = db_api.prepare_secrets()
    assert (report["sealed"], report["changed"]) == (1, 1)
    assert CANARY not in json.dumps(raw_rows())
    if database == "sqlite":
        # No copy of the old row in free pages or the WAL either.
        assert not any(CANARY.encode() in blob for blob in sqlite_files())
    assert db_api.get_node("legacy")["driver_info"] == IPMI_NODE["driver_info"]
    assert db_api.prepare_secrets()["changed"] == 0


def test_forged_envelopes_are_refused(api):
    body = dict(IPMI_NODE, extra={"x": 1})
    body["driver_info"] = dict(IPMI_NODE["driver_info"],
                               ipmi_terminal_port={secrets.ENVELOPE: "forged"})
    resp = api.post("/v1/nodes", body)
    assert resp.status_code == 400
    # The database layer refuses them itself, whatever the caller checked.
    with pytest.raises(exception.InvalidParameterValue, match="reserved for encrypted"):
        db_api.create_node({"driver": "fake-hardware", "name": "forged",
                            "driver_info": {"anything": {secrets.ENVELOPE: "forged"}}})
    node = db_api.create_node({"driver": "fake-hardware", "name": "real"})
    with pytest.raises(exception.InvalidParameterValue, match="reserved for encrypted"):
        db_api.update_node(node["id"], {"driver_info": {"x": {secrets.ENVELOPE: "f"}}})
    assert [n["name"] for n in db_api.list_nodes()] == ["real"]


def _dbsync(config_path, *args):
    code = "import sys; from hwdrivers.cmd.dbsync import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "--config-file", str(config_path)]
                          + list(args), capture_output=True, text=True, timeout=120)


def test_server_and_dbsync_with_a_real_key_file(tmp_path):
    """hwdrivers-server encrypts old rows at start and refuses an exposed key file."""
    server = ServerProcess(tmp_path).start()
    key_file = tmp_path / "state" / "secrets.key"
    try:
        status, _ = server.call("POST", "/v1/nodes", IPMI_NODE)
        assert status == 201
    finally:
        assert server.stop() == 0
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # Put the password back in plain text, as a database from before encryption.
    with sqlite3.connect(server.db_path) as conn:
        conn.execute("UPDATE nodes SET driver_info = ? WHERE name = 'db1'",
                     (json.dumps(IPMI_NODE["driver_info"]),))
    conn.close()

    os.chmod(key_file, 0o644)
    result = subprocess.run([server.proc.args[0], "--config-file", str(server.config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "%s may be read or written by group or others (mode 0644)" % key_file in last
    assert "chmod 600" in last

    os.chmod(key_file, 0o600)
    server.start()
    try:
        assert CANARY not in json.dumps(server.db_rows("SELECT * FROM nodes"))
        status, body = server.call("GET", "/v1/nodes/db1")
        assert status == 200 and body["driver_info"]["ipmi_password"] == "******"
        assert CANARY not in server.log()
    finally:
        assert server.stop() == 0

    # Rotation with the commands an operator runs.
    result = _dbsync(server.config_path, "add-secrets-key")
    assert result.returncode == 0, result.stderr
    assert "now holds 2 key(s)" in result.stdout
    result = _dbsync(server.config_path, "reencrypt-secrets")
    assert result.returncode == 0, result.stderr
    assert "1 re-encrypted with the newest key" in result.stdout
    newest = secrets.read_key_file(str(key_file))[0]
    [row] = server.db_rows("SELECT driver_info FROM nodes WHERE name = 'db1'")
    token = json.loads(row["driver_info"])["ipmi_password"][secrets.ENVELOPE]
    assert json.loads(fernet.Fernet(newest).decrypt(token.encode())) == CANARY

    # A lost key: the server refuses to start, and dbsync names what is unreadable.
    shutil.move(key_file, tmp_path / "saved.key")
    result = subprocess.run([server.proc.args[0], "--config-file", str(server.config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "secrets.key does not exist, but the database holds encrypted secrets" in (
        result.stderr)
    assert not key_file.exists()
    secrets.write_key_file(str(key_file), [fernet.Fernet.generate_key()])
    result = _dbsync(server.config_path, "reencrypt-secrets")
    assert result.returncode == 1
    assert "decrypts ipmi_password of node db1" in result.stderr
    assert CANARY not in result.stdout + result.stderr


def test_power_sync_pages_skip_an_unreadable_node_and_name_it(api, database, caplog):
    assert api.post("/v1/nodes", IPMI_NODE).status_code == 201
    assert api.post("/v1/nodes", {"driver": "fake-hardware", "name": "plain"}).status_code == 201
    engine = sa.create_engine(CONF.database.connection)
    with engine.begin() as conn:  # a value sealed with a key nobody has
        other = secrets.Keyring(CONF.secrets.key_file + ".other", create=True)
        info = dict(raw_driver_info("db1"), ipmi_password=other.seal(CANARY))
        conn.execute(sa.text("UPDATE nodes SET driver_info = :info WHERE name = 'db1'"),
                     {"info": json.dumps(info)})
    engine.dispose()
    rows = db_api.list_nodes_to_sync(False)
    assert [r["name"] for r in rows] == ["plain"]
    assert "Node db1: driver_info field ipmi_password cannot be decrypted" in caplog.text
    assert CANARY not in caplog.text


def test_an_external_drivers_own_secret_is_encrypted(external_drivers, database):
    """power_pass is secret only because the executable's schema says so."""
    from hwdrivers.conductor import manager as manager_mod

    manager = manager_mod.ConductorManager()
    manager.create_node(CTX, {"driver": "external", "name": "ext1",
                              "driver_info": external_drivers.py_info("m1")})
    stored = raw_driver_info("ext1")
    assert secrets.is_sealed(stored["power_pass"])
    assert stored["power_address"] == "127.0.0.1"  # not declared secret: as it was
    assert external_drivers.password not in json.dumps(raw_rows())
    # The executable still gets the password, on its stdin.
    assert manager.get_power_state(CTX, "ext1") is not None
    sent = json.loads(external_drivers.calls()[-1]["stdin"])["driverParameters"]
    assert sent["power_pass"] == external_drivers.password
