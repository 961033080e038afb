"""A state path, database file or option value that cannot work: one line naming it.

``hwdrivers``, ``hwdrivers-dbsync`` and ``hwdrivers-server`` are run as the
operator runs them (a process each, ``HWDRIVERS_STATE_PATH`` or a config
file), since what is checked is exactly what reaches their stderr: one
``error`` line naming the file or the setting and the fix, no traceback,
no object dump, no secret.
"""

import os
import subprocess
import sys

import pytest

from hwdrivers.common import exception
from hwdrivers.db import engine as db_engine
from tests.functional.server_proc import free_tcp_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAINS = {"hwdrivers": "hwdrivers.cmd.cli", "hwdrivers-dbsync": "hwdrivers.cmd.dbsync",
         "hwdrivers-server": "hwdrivers.cmd.server"}

#: Files an operator might find at the database's path, none of them SQLite.
NOT_SQLITE = {"text": b"text\n", "random": os.urandom(4096),
              "header-only": b"SQLite format 3\x00"}


def _run(command, *args, state_path=None, env=None):
    """``command args`` in a process of its own; (exit code, stderr)."""
    argv = [sys.executable, "-c", "import sys; from %s import main; sys.exit(main())"
            % MAINS[command]] + list(args)
    if command == "hwdrivers-server":
        argv += ["--port", str(free_tcp_port())]
    environ = dict(os.environ, **(env or {}))
    for name in ("HWDRIVERS_URL", "HWDRIVERS_STATE_PATH"):
        environ.pop(name, None)
    if state_path is not None:
        environ["HWDRIVERS_STATE_PATH"] = str(state_path)
    result = subprocess.run(argv, capture_output=True, text=True, env=environ, cwd=ROOT,
                            timeout=120)
    return result.returncode, result.stderr


def _one_line(stderr):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


# -- 1: a database file that is not SQLite ------------------------------------------

@pytest.mark.parametrize("kind", sorted(NOT_SQLITE))
def test_cli_names_a_file_that_is_not_sqlite(tmp_path, kind):
    (tmp_path / "hwdrivers.sqlite").write_bytes(NOT_SQLITE[kind])
    code, err = _run("hwdrivers", "node", "list", state_path=tmp_path)
    line = _one_line(err)
    assert code == 1
    assert str(tmp_path / "hwdrivers.sqlite") in line
    assert "is not an SQLite database" in line
    assert "move the file away" in line and "HWDRIVERS_STATE_PATH" in line


@pytest.mark.parametrize("command,args", [("hwdrivers-dbsync", ["upgrade"]),
                                          ("hwdrivers-server", [])])
def test_dbsync_and_server_name_the_file_and_state_path(tmp_path, command, args):
    state = tmp_path / "s2"
    state.mkdir()
    (state / "hwdrivers.sqlite").write_text("text\n")
    conf = tmp_path / "c.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n" % state)
    code, err = _run(command, "--config-file", str(conf), *args)
    line = _one_line(err)
    assert code == 1
    assert str(state / "hwdrivers.sqlite") in line and "is not an SQLite database" in line
    assert "[DEFAULT] state_path (in %s)" % conf in line
    assert "[database] connection" not in line


def test_connection_to_a_file_that_is_not_sqlite_names_connection(tmp_path, config, capsys):
    from hwdrivers.cmd import cli
    path = tmp_path / "other.db"
    path.write_bytes(b"SQLite format 3\x00")
    config(database__connection="sqlite:///%s" % path)
    db_engine.dispose()
    try:
        assert cli.main(["node", "list"]) == 1
    finally:
        db_engine.dispose()
    line = _one_line(capsys.readouterr().err)
    assert str(path) in line and "point [database] connection elsewhere" in line


# -- 2: a state path that is a file or cannot be created ----------------------------

@pytest.mark.parametrize("below,what", [
    ("", "is a file, not a directory"),
    ("sub", "is a file, not a directory"),
])
def test_state_path_blocked_by_a_file(tmp_path, below, what):
    blocker = tmp_path / "notadir"
    blocker.write_text("")
    state = os.path.join(str(blocker), below) if below else str(blocker)
    for command, args in (("hwdrivers", ["node", "list"]), ("hwdrivers-server", [])):
        code, err = _run(command, *args, state_path=state)
        line = _one_line(err)
        assert code == 1
        assert "HWDRIVERS_STATE_PATH %s" % state.rstrip("/") in line, line
        assert "%s %s" % (blocker, what) in line
        assert "move" in line and "point it at a directory" in line


def test_state_path_that_cannot_be_created(tmp_path):
    code, err = _run("hwdrivers", "node", "list", state_path="/proc/hwdrivers-test")
    line = _one_line(err)
    assert code == 1
    assert "HWDRIVERS_STATE_PATH /proc/hwdrivers-test cannot be created" in line


def test_state_path_from_a_config_file_names_the_option_and_file(tmp_path):
    blocker = tmp_path / "notadir"
    blocker.write_text("")
    conf = tmp_path / "c.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n" % blocker)
    code, err = _run("hwdrivers-dbsync", "--config-file", str(conf), "upgrade")
    line = _one_line(err)
    assert code == 1
    assert "[DEFAULT] state_path (in %s) %s is a file" % (conf, blocker) in line


# -- 3: read-only or directory: the file and the real problem, no "retry later" -----

def test_database_path_that_is_a_directory(tmp_path):
    (tmp_path / "hwdrivers.sqlite").mkdir()
    for command, args in (("hwdrivers", ["node", "list"]), ("hwdrivers-dbsync", ["upgrade"])):
        code, err = _run(command, *args, state_path=tmp_path)
        line = _one_line(err)
        assert code == 1
        assert "%s is a directory" % (tmp_path / "hwdrivers.sqlite") in line
        assert "retry later" not in line


def _chattr(flag, path):
    result = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip("chattr %s does not work here: %s" % (flag, result.stderr.strip()))


def test_read_only_database_names_the_file_not_retry(sqlite_database):
    from hwdrivers.db import api as db_api
    path = db_engine._get().path
    db_api.create_node({"driver": "fake-hardware", "name": "before"})
    db_engine.dispose()
    _chattr("+i", path)
    try:
        assert [n["name"] for n in db_api.list_nodes()] == ["before"]  # reads still work
        with pytest.raises(exception.DatabaseUnusable) as info:
            db_api.create_node({"driver": "fake-hardware", "name": "refused"})
    finally:
        _chattr("-i", path)
        db_engine.dispose()
    message = str(info.value)
    assert path in message and "is read-only" in message and "chattr -i" in message
    assert "retry later" not in message
    assert [n["name"] for n in db_api.list_nodes()] == ["before"]


def test_locked_database_still_says_retry_later(sqlite_database, config):
    """Transient: the other writer will let go. Unchanged by the checks above."""
    import sqlite3

    from hwdrivers.common import exception
    from hwdrivers.db import api as db_api
    config(database__sqlite_busy_timeout=0.1)
    db_engine.dispose()
    holder = sqlite3.connect(db_engine._get().path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(exception.DatabaseUnavailable) as info:
            db_api.create_node({"driver": "fake-hardware", "name": "x"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        db_engine.dispose()
    assert not isinstance(info.value, exception.DatabaseUnusable)
    assert "retry later" in str(info.value)


# -- 4: invalid option values --------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("[conductor]\nworkers_pool_size = abc\n",
     "invalid value for [conductor] workers_pool_size in {conf}: 'abc' is not a valid "
     "integer (a whole number, at least 1)"),
    ("[conductor]\nworkers_pool_size = 0\n",
     "invalid value for [conductor] workers_pool_size in {conf}: '0' is out of range "
     "(a whole number, at least 1)"),
    ("[api]\nhttp_server = nginx\n",
     "invalid value for [api] http_server in {conf}: 'nginx' is not one of the allowed "
     "values (one of: granian, waitress)"),
    ("[api]\nport = 99999\n",
     "invalid value for [api] port in {conf}: '99999' is out of range (a whole number "
     "from 0 to 65535)"),
    ("[conductor]\nlease_duration = soon\n",
     "invalid value for [conductor] lease_duration in {conf}: 'soon' is not a valid "
     "number"),
    ("[conductor]\nlease_duration = nan\n",
     "invalid value for [conductor] lease_duration in {conf}: 'nan' is not a finite "
     "number (a number, at least 1.0)"),
    ("[snmp]\nreboot_delay = inf\n",
     "invalid value for [snmp] reboot_delay in {conf}: 'inf' is not a finite number "
     "(a number from 0 to 3600)"),
    ("[api]\nallow_insecure_noauth_bind = maybe\n",
     "'maybe' is not a valid boolean (true or false"),
])
def test_invalid_option_values_say_what_is_allowed(tmp_path, capsys, text, expected):
    from hwdrivers.cmd import cli
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    assert cli.main(["--config-file", str(conf), "node", "list"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert expected.format(conf=conf) in line
    assert "LocationInfo" not in line and "Locations" not in line


def test_server_says_the_same(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[conductor]\nworkers_pool_size = abc\n")
    code, err = _run("hwdrivers-server", "--config-file", str(conf), state_path=tmp_path)
    assert code == 1
    assert _one_line(err) == (
        "hwdrivers-server: error: invalid value for [conductor] workers_pool_size in %s: "
        "'abc' is not a valid integer (a whole number, at least 1)" % conf)


@pytest.mark.parametrize("command,args,prefix", [
    ("hwdrivers-server", [], "hwdrivers-server: error: "),
    ("hwdrivers-dbsync", ["upgrade"], "hwdrivers-dbsync: error: "),
    ("hwdrivers", ["node", "list"], "ERROR: "),
])
def test_a_config_file_that_is_not_utf8_is_named_with_its_line(tmp_path, command, args,
                                                               prefix):
    """Every command reads config files through startup.parse_config: the
    server and dbsync ended in a UnicodeDecodeError traceback here."""
    conf = tmp_path / "latin1.conf"
    conf.write_bytes(b"[DEFAULT]\n# caf\xe9\n")
    code, err = _run(command, "--config-file=%s" % conf, *args, state_path=tmp_path)
    assert code == 1
    assert _one_line(err) == (
        "%sconfig file %s is not UTF-8 text (line 2 holds a byte that does not decode); "
        "save it as UTF-8" % (prefix, conf))


def test_a_value_from_the_environment_names_the_variable(tmp_path):
    code, err = _run("hwdrivers", "node", "list", state_path=tmp_path,
                     env={"OS_CONDUCTOR__WORKERS_POOL_SIZE": "zz"})
    assert code == 1
    assert ("[conductor] workers_pool_size from the environment variable "
            "OS_CONDUCTOR__WORKERS_POOL_SIZE: 'zz' is not a valid integer") in _one_line(err)


def test_a_secret_value_is_never_shown(tmp_path):
    from oslo_config import cfg

    from hwdrivers import conf as hw_conf
    conf_file = tmp_path / "s.conf"
    conf_file.write_text("[vault]\npin = hunter2\n")
    conf = cfg.ConfigOpts()
    conf.register_opts([cfg.IntOpt("pin", secret=True)], group="vault")
    conf([], default_config_files=[str(conf_file)])
    with pytest.raises(cfg.ConfigFileValueError) as info:
        hw_conf.check_values(conf)
    message = str(info.value)
    assert message == ("invalid value for [vault] pin in %s: the value (secret, not "
                       "shown) is not a valid integer (a whole number)" % conf_file)
    assert "hunter2" not in message


@pytest.mark.parametrize("command", ["hwdrivers-dbsync", "hwdrivers-server"])
def test_unreachable_server_is_named_without_its_password(tmp_path, command):
    """Both say which server and database, by the setting; no part of a secret."""
    port = free_tcp_port()  # nothing listens there
    conf = tmp_path / "pg.conf"
    conf.write_text(
        "[database]\nconnection = postgresql+psycopg://ops:pw-in-user@127.0.0.1:%d/fleet"
        "?password=pw-in-query&connect_timeout=2\n" % port)
    args = ["--config-file", str(conf)] + (["upgrade"] if command == "hwdrivers-dbsync"
                                           else [])
    code, err = _run(command, *args)
    assert code == 1, err
    assert ("cannot use the database fleet on 127.0.0.1:%d ([database] connection)"
            % port) in err, err
    assert "pw-in" not in err and "Traceback" not in err, err
