"""``node delete`` of a node named twice, by its name and by its UUID.

The first deleted it and the second failed, "Node <uuid> could not be
found", exit status 1, though all that was asked was done. A node is now
deleted once however it is named (its UUID in any case); a name no node
has is still reported.
"""

import json

import pytest

from tests import cli_run


@pytest.fixture
def run(sqlite_database, tmp_path, capsys):
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True)


def _uuid(run, name):
    return run("node", "show", name, "-f", "value", "-c", "uuid")[0].strip()


def test_a_node_named_by_its_name_and_its_uuid_is_deleted_once(run):
    for name in ("d1", "d2", "keep"):
        run("node", "create", "--driver", "fake-hardware", "--name", name)
    out, err = run("node", "delete", "d1", _uuid(run, "d1"), _uuid(run, "d2").upper(),
                   "d2", "-f", "json")
    assert [entry["result"] for entry in json.loads(out)] == ["deleted", "deleted"]
    assert run("node", "list", "-f", "value", "-c", "name")[0] == "keep\n"


def test_a_node_no_one_has_is_still_reported(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "d1")
    out, err = run("node", "delete", "d1", "nosuch", "-f", "value", "-c", "node", expect=1)
    assert out == "nosuch\n"
    assert "ERROR: 1 of 2 nodes failed" in err
