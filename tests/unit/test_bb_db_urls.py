"""A ``[database] connection`` that is not a usable URL: one line, never the value.

Run as the operator runs them (a process each): a port that is not a
number escaped as a ValueError traceback from all three commands, and a
driver SQLAlchemy cannot load (``postgres://``, a module not installed)
as a traceback from the CLI. The URL holds the password, so no message
may quote it.
"""

import os
import subprocess
import sys

import pytest

from tests.functional.server_proc import free_tcp_port

BIN = os.path.dirname(sys.executable)
COMMANDS = (("hwdrivers-dbsync", ["version"]), ("hwdrivers-server", []),
            ("hwdrivers", ["node", "list"]))


def _run(tmp_path, command, args, connection):
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[database]\nconnection = %s\n[api]\nport = %d\n"
                    % (connection, free_tcp_port()))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    env.pop("HWDRIVERS_URL", None)
    return subprocess.run([os.path.join(BIN, command), "--config-file", str(conf)] + args,
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("connection,expected", [
    ("postgresql+psycopg://ops:pw-SECRET@127.0.0.1:notaport/fleet",
     "[database] connection is not a usable database URL: its port is not a number"),
    ("pw-SECRET", "[database] connection is not a usable database URL: it cannot be "
                  "parsed"),
    ("postgres://ops:pw-SECRET@127.0.0.1/fleet",
     "[database] connection names the database driver postgres, which cannot be loaded"),
    ("mysql+nosuchdriver://ops:pw-SECRET@127.0.0.1/fleet",
     "[database] connection names the database driver mysql+nosuchdriver"),
])
@pytest.mark.parametrize("command,args", COMMANDS, ids=[c for c, _ in COMMANDS])
def test_an_unusable_url_is_one_line_without_the_value(tmp_path, command, args,
                                                      connection, expected):
    result = _run(tmp_path, command, args, connection)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert expected in lines[0], lines[0]
    assert "SECRET" not in result.stderr + result.stdout
