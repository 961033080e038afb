"""``-c`` on a command that acts on nodes: the report a script reads.

``hwdrivers node power on --all -f value -c node`` printed, when a node
failed, "nope Node nope could not be found; ..." -- the failure report
ignored ``-c`` (and ``-f json -c node`` printed every field), so a script
collecting the failed nodes' names read error text as names. And a column
no row has was refused after the command had acted, in words that read as
if nothing had been done: ``node create ... -c nosuch`` created the node
and exited 1, and the script's retry failed on the name now taken.
"""

import json

import pytest

from tests import cli_run


@pytest.fixture
def run(sqlite_database, tmp_path, capsys):
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True)


@pytest.fixture
def node_file(run, tmp_path):
    for name in ("b1", "b2"):
        run("node", "create", "--driver", "fake-hardware", "--name", name)
    path = tmp_path / "nodes.txt"
    path.write_text("b1\nnosuch\nb2\n")
    return str(path)


def test_the_failure_report_of_many_nodes_keeps_the_columns_asked_for(run, node_file):
    out, err = run("node", "power", "on", "--file", node_file, "-f", "value",
                   "-c", "node", expect=1)
    assert out == "nosuch\n"  # a name a line, ready for --file again
    assert "ERROR: 1 of 3 nodes failed" in err


def test_the_json_report_of_many_nodes_keeps_the_columns_asked_for(run, node_file):
    out, _ = run("node", "power", "on", "--file", node_file, "-f", "json",
                 "-c", "node", "-c", "result", expect=1)
    assert json.loads(out) == [{"node": "b1", "result": "power on"},
                               {"node": "nosuch", "result": "failed"},
                               {"node": "b2", "result": "power on"}]


def test_a_column_the_failure_report_lacks_shows_the_whole_report(run, node_file):
    """-c power_state names the success table's column: the failures are still
    shown, not lost behind an error about the column."""
    out, err = run("node", "power", "on", "--file", node_file, "-f", "value",
                   "-c", "power_state", expect=1)
    assert out.startswith("nosuch Node nosuch could not be found")
    assert "ERROR: 1 of 3 nodes failed" in err


def test_several_deletes_report_their_failures_in_the_columns_asked_for(run, node_file):
    out, _ = run("node", "delete", "b1", "nosuch", "-f", "value", "-c", "node", expect=1)
    assert out == "nosuch\n"


def test_a_column_refused_after_a_change_says_the_change_was_made(run):
    _, err = run("node", "create", "--driver", "fake-hardware", "--name", "c1",
                 "-c", "nosuch", expect=1)
    assert "-c/--column nosuch: no such column here" in err
    assert "The command was carried out all the same" in err
    assert "do not run it again" in err
    assert run("node", "list", "-f", "value", "-c", "name")[0] == "c1\n"
    _, err = run("node", "power", "on", "--all", "-c", "nosuch", expect=1)
    assert "carried out" in err
    assert run("node", "power", "status", "c1", "-f", "value", "-c",
               "power_state")[0] == "power on\n"


@pytest.mark.parametrize("argv", [["node", "show", "c1"], ["node", "list"],
                                  ["node", "power", "status", "c1"]])
def test_a_column_refused_by_a_command_that_only_reads_says_no_more(run, argv):
    run("node", "create", "--driver", "fake-hardware", "--name", "c1")
    _, err = run(*argv, "-c", "nosuch", expect=1)
    assert "-c/--column nosuch: no such column here" in err
    assert "carried out" not in err
