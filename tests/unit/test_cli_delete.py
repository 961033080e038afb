"""``hwdrivers node delete A B C``: every node is tried and each outcome reported.

Stopping at the first node that fails left the rest of the list in place,
unmentioned; now the failures are summed up as the bulk commands do, the
others deleted, and the exit status is 1. Locally and over --url.
"""

import json

import pytest

from hwdrivers.cmd import cli
from hwdrivers.db import engine as db_engine
from tests.functional.server_proc import ServerProcess


def _runner(prefix, capsys):
    def run(*args, expect=0):
        db_engine.dispose()
        code = cli.main(list(prefix) + list(args))
        out, err = capsys.readouterr()
        assert code == expect, "exit %s: %s %s" % (code, out, err)
        return out, err
    return run


@pytest.fixture
def local_run(sqlite_database, tmp_path, capsys):
    conf = tmp_path / "empty.conf"
    conf.write_text("")
    return _runner(["--config-file", str(conf)], capsys)


@pytest.fixture
def http_run(tmp_path, capsys, monkeypatch):
    for name in ("HWDRIVERS_URL", "HWDRIVERS_USERNAME", "HWDRIVERS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    server = ServerProcess(tmp_path).start()
    yield _runner(["--url", server.url], capsys)
    server.stop()


@pytest.fixture(params=["local", "url"])
def run(request):
    return request.getfixturevalue("%s_run" % ("local" if request.param == "local"
                                               else "http"))


def _names(run):
    return {n["name"] for n in json.loads(run("node", "list", "-f", "json")[0])}


def test_delete_tries_every_node_and_reports_the_failures(run):
    for name in ("d1", "d2", "keep"):
        run("node", "create", "--driver", "fake-hardware", "--name", name)
    out, err = run("node", "delete", "d1", "nosuch", "d2", expect=1)
    assert _names(run) == {"keep"}  # d2, after the missing one, was deleted too
    assert "Node nosuch could not be found" in out  # the failure table
    assert "d1" not in out and "d2" not in out
    assert "ERROR: 1 of 3 nodes failed" in err
    progress = [line.split("] ", 1)[1] for line in err.splitlines() if "] " in line]
    # One line per node, one node at a time, in the order given.
    assert progress[0] == "d1: deleted" and progress[2] == "d2: deleted"
    assert progress[1].startswith("nosuch: Node nosuch could not be found")


def test_delete_reports_every_node_in_json(run):
    for name in ("j1", "j2"):
        run("node", "create", "--driver", "fake-hardware", "--name", name)
    out, _ = run("node", "delete", "j1", "ghost", "j2", "-f", "json", expect=1)
    results = json.loads(out)
    assert [(r["node"], r["result"]) for r in results] == [
        ("j1", "deleted"), ("ghost", "failed"), ("j2", "deleted")]
    assert "ghost could not be found" in results[1]["error"]
    run("node", "create", "--driver", "fake-hardware", "--name", "j3")
    out, _ = run("node", "delete", "j3", "j3", "-f", "json")  # named twice, deleted once
    assert json.loads(out) == [{"node": "j3", "result": "deleted", "error": None}]


def test_delete_of_one_node_keeps_its_one_line_error(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "solo")
    out, err = run("node", "delete", "solo")
    assert out == "" and "] " not in err
    out, err = run("node", "delete", "nosuch", expect=1)
    assert out == "" and err.startswith("ERROR: Node nosuch could not be found")
    assert len(err.splitlines()) == 1
