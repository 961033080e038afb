"""``run(*args)``: the ``hwdrivers`` command in this process, its output captured."""

import io

from hwdrivers.cmd import cli
from hwdrivers.db import engine as db_engine

#: Environment variables that would send the CLI to an API instead of the database.
API_ENV = ("HWDRIVERS_URL", "HWDRIVERS_USERNAME", "HWDRIVERS_PASSWORD")


def empty_config(tmp_path):
    """An empty config file in ``tmp_path``, for ``--config-file``."""
    conf = tmp_path / "empty.conf"
    conf.write_text("")
    return conf


def clear_api_env(monkeypatch):
    """Unset :data:`API_ENV`, so that the command works on the local database."""
    for name in API_ENV:
        monkeypatch.delenv(name, raising=False)


def runner(conf, capsys, *, no_traceback=False, monkeypatch=None, stdin=None):
    """A ``run(*args, expect=0)`` for ``--config-file conf``: (stdout, stderr).

    It asserts the exit status, printing both streams when it differs; with
    ``no_traceback`` also that stderr holds no traceback. With ``stdin`` (text)
    each call reads that standard input (through ``monkeypatch``), unless the call
    gives its own ``stdin=``; without, calls leave ``sys.stdin`` as it is.
    """
    def run(*args, expect=0, stdin=stdin):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(["--config-file", str(conf)] + list(args))
        out, err = capsys.readouterr()
        assert code == expect, "exit %s: %s %s" % (code, out, err)
        if no_traceback:
            assert "Traceback" not in err
        return out, err
    return run


def server_runner(server, tmp_path, capsys, monkeypatch):
    """A ``run(*args, expect=0, local=False)`` for a real hwdrivers-server (a generator
    for a pytest fixture: ``yield from server_runner(...)``).

    Each call runs the CLI over ``--url``, or with ``local=True`` the local backend
    on the very SQLite file the server uses, so that both outputs compare; it
    asserts the exit status, printing both streams when it differs, and returns
    (stdout, stderr). :data:`API_ENV` is unset, so that only the arguments choose.
    """
    local_conf = tmp_path / "local.conf"
    local_conf.write_text("[database]\nconnection = sqlite:///%s\n" % server.db_path)
    clear_api_env(monkeypatch)
    db_engine.dispose()

    def run(*args, expect=0, local=False):
        prefix = (["--config-file", str(local_conf)] if local
                  else ["--url", server.url])
        db_engine.dispose()
        code = cli.main(prefix + list(args))
        out, err = capsys.readouterr()
        assert code == expect, "exit %s: %s %s" % (code, out, err)
        return out, err

    yield run
    db_engine.dispose()
