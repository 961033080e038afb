"""The CLI's local commands import only what they use (issue 14: start-up).

Each command runs in a fresh interpreter, as the ``hwdrivers`` console
script runs it, and reports which heavy libraries were imported by the
time it exited. A local command on fake-hardware nodes needs no web
framework, no BMC library, no HTTP client and no alembic (the schema is
current); the one-shot mode and the ``driver`` commands need no database
and no event loop either.
An import that creeps in at module level shows up here as a failure naming
the library; ``python -X importtime`` finds the line that brought it.
"""

import json
import subprocess
import sys

import pytest

#: Never needed by a local command on fake hardware with a current schema.
HEAVY = ("flask", "werkzeug", "waitress", "granian", "jinja2", "sushy", "pysnmp", "pyghmi",
         "pycdlib", "alembic", "requests", "urllib3", "cryptography", "bcrypt",
         "prometheus_client", "urllib.request", "http.client")
#: Also never needed when driving one machine directly (no database).
HEAVY_ONESHOT = HEAVY + ("sqlalchemy", "asyncio", "ssl")

#: Known exceptions, each with the change that removes it (then drop it here).
KNOWN = {}

RUN = (
    "import json, sys\n"
    "from hwdrivers.cmd.cli import main\n"
    "code = main(sys.argv[2:])\n"
    "sys.stdout.flush()\n"
    "heavy = [m for m in json.loads(sys.argv[1]) if m in sys.modules]\n"
    "sys.stderr.write('HEAVY=' + json.dumps(heavy) + '\\n')\n"
    "sys.exit(code)\n")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """A config file and a migrated SQLite database holding one fake node."""
    tmp = tmp_path_factory.mktemp("cli-imports")
    path = tmp / "hwdrivers.conf"
    path.write_text("[DEFAULT]\nstate_path = %s\n[database]\nconnection = sqlite:///%s\n"
                    % (tmp, tmp / "hwdrivers.sqlite"))
    cli(str(path), ["node", "create", "--driver", "fake-hardware", "--name", "n1"], ())
    return str(path)


def cli(config_path, argv, heavy):
    """Run ``hwdrivers --config-file PATH argv`` fresh; the ``heavy`` it imported."""
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith("HWDRIVERS_")}
    proc = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(list(heavy)), "--config-file", config_path]
        + argv, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stderr.rpartition("HEAVY=")[2])


@pytest.mark.parametrize("argv", [
    ["node", "list"],
    ["node", "power", "on", "n1"],
    ["node", "show", "n1", "-f", "json"],
    ["driver", "list"],
], ids=" ".join)
def test_a_local_command_imports_no_heavy_library(config, argv):
    heavy = set(cli(config, argv, HEAVY))
    known = KNOWN.get(" ".join(argv), set())
    assert heavy - known == set()
    assert known <= heavy, "fixed: drop %s from KNOWN" % sorted(known - heavy)


@pytest.mark.parametrize("argv", [
    ["driver", "list"],
    ["driver", "show", "fake-hardware"],
    ["driver", "properties", "ipmi", "-f", "json"],
], ids=" ".join)
def test_a_driver_command_needs_no_database(tmp_path, argv):
    """Answered from the config alone: the database is unreachable, and the
    database layer (SQLAlchemy, asyncio, ssl) is never imported."""
    path = tmp_path / "hwdrivers.conf"
    path.write_text("[DEFAULT]\nstate_path = %s\n[database]\nconnection = "
                    "postgresql+psycopg://nobody@127.0.0.1:1/none\n" % tmp_path)
    assert cli(str(path), argv, HEAVY_ONESHOT) == []


def test_a_one_shot_command_imports_no_database_nor_event_loop(config):
    assert cli(config, ["power", "status", "--driver", "fake-hardware"], HEAVY_ONESHOT) == []
