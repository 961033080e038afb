"""An option choosing nodes given empty is refused, not dropped.

``node power off --all --driver "$DRIVER"`` with $DRIVER unset read
``--driver ""`` as no --driver and powered off every node of every driver;
``--name-glob ""`` was answered "give a NODE, or choose nodes with --all,
--name-glob PATTERN or --file PATH", though one was given.
"""

import pytest

from tests import cli_run


@pytest.fixture
def run(sqlite_database, tmp_path, capsys):
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True)


@pytest.mark.parametrize("argv, option", [
    (["--all", "--driver", ""], "--driver"),
    (["--name-glob", "web*", "--driver", ""], "--driver"),
    (["--name-glob", ""], "--name-glob"),
    (["--file", ""], "--file"),
])
def test_an_empty_selection_option_powers_no_node(run, argv, option):
    run("node", "create", "--driver", "fake-hardware", "--name", "web1")
    _, err = run("node", "power", "on", *argv, expect=1)
    assert err.startswith("ERROR: %s is empty (an unset shell variable?): give " % option)
    assert "[1/1]" not in err  # no node was started
    out, _ = run("node", "power", "status", "web1", "-f", "value", "-c", "power_state")
    assert out == "unknown (not read yet)\n"


def test_node_list_refuses_an_empty_driver_too(run):
    _, err = run("node", "list", "--driver", "", expect=1)
    assert "--driver is empty" in err
