"""``hwdrivers conductor show`` through the API is the same as on the database.

A real hwdrivers-server (tests/functional/server_proc.py); the CLI runs in
this process, once with ``--url`` and once on the server's SQLite file.
"""

import json

import pytest

from tests import cli_run
from tests.functional.server_proc import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("cli-conductor-show")).start()
    yield proc
    proc.stop()


@pytest.fixture
def run(server, tmp_path, capsys, monkeypatch):
    yield from cli_run.server_runner(server, tmp_path, capsys, monkeypatch)


def test_conductor_show_over_http_matches_the_database(run):
    (listed,) = json.loads(run("conductor", "list", "-f", "json")[0])
    host = listed["hostname"]
    remote = json.loads(run("conductor", "show", host, "-f", "json")[0])
    local = json.loads(run("conductor", "show", host, "-f", "json", local=True)[0])
    assert remote["hostname"] == host and remote["alive"] is True
    assert remote["drivers"] and remote["created_at"]
    # The heartbeat may tick between the two reads.
    assert dict(remote, updated_at=None) == dict(local, updated_at=None)
    _, err = run("conductor", "show", "no-such-host", expect=1)
    assert "no-such-host" in err
