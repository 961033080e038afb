"""``-f value`` is a row a line, whatever a value holds.

A maintenance reason or a last_error spanning lines (a tool's output) was
written as is, so ``hwdrivers node list --long -f value -c name -c
maintenance_reason | while read name reason`` read its second line as a
node of its own. A newline inside a value is now written ``\\n``.
"""

import pytest

from tests import cli_run


@pytest.fixture
def run(sqlite_database, tmp_path, capsys):
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True)


def test_a_multi_line_value_stays_on_its_row(run):
    for name in ("m1", "m2"):
        run("node", "create", "--driver", "fake-hardware", "--name", name)
    run("node", "maintenance", "set", "m1", "--reason", "disk swap\nticket 42")
    out, _ = run("node", "list", "--long", "-f", "value", "-c", "name",
                 "-c", "maintenance_reason")
    assert out.splitlines() == ["m1 disk swap\\nticket 42", "m2 "]
    out, _ = run("node", "show", "m1", "-f", "value", "-c", "maintenance_reason",
                 "-c", "name")
    assert out.splitlines() == ["disk swap\\nticket 42", "m1"]


def test_the_table_still_shows_the_lines():
    """Only -f value escapes it: a table spans lines inside its cell."""
    import io

    from hwdrivers.cli import output
    stream = io.StringIO()
    output.emit([{"a": "x\ny"}], "table", columns=["a"], stream=stream)
    assert "| x |\n| y |" in stream.getvalue()
