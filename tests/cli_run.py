"""``run(*args)``: the ``hwdrivers`` command in this process, its output captured."""

import io

from hwdrivers.cmd import cli

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
