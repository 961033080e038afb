"""Output of ``hwdrivers``: a table stays a table, whatever the values hold.

A newline in a value (a maintenance reason, an error carrying a tool's
output) broke the table's rows and borders; an escape sequence in one (a
node's extra, set by anyone who may edit nodes) reached the reader's
terminal as is; a lone surrogate in a row stored before the API refused
them made printing the table a UnicodeEncodeError.
"""

import io
import json

import pytest

from hwdrivers.cli import output
from hwdrivers.cmd import cli
from tests import cli_run


def _table_lines(text):
    lines = text.splitlines()
    assert lines, text
    assert all(line[0] in "|+" and line[-1] in "|+" for line in lines), text
    assert len({len(line) for line in lines}) == 1, text  # one width: no broken row
    return lines


def test_a_value_with_newlines_spans_lines_inside_its_cell():
    stream = io.StringIO()
    output.table([{"a": "one\ntwo", "b": "x"}, {"a": "three", "b": "y\nz\nw"}],
                 ["a", "b"], stream)
    lines = _table_lines(stream.getvalue())
    assert lines[3:8] == ["| one   | x |", "| two   |   |", "| three | y |",
                          "|       | z |", "|       | w |"]


@pytest.mark.parametrize("value, shown", [
    ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    ("a\rb\tc", "a\\x0db\\x09c"),
    ("csi\x9b2J", "csi\\x9b2J"),
    ("old\ud800row", "old\\ud800row"),
])
def test_control_characters_and_surrogates_are_shown_escaped(value, shown):
    stream = io.StringIO()
    output.emit({"maintenance_reason": value}, "table", stream=stream)
    text = stream.getvalue()
    assert shown in text
    assert not any(c in text for c in "\x1b\x07\r\t\x9b\ud800")
    text.encode("utf-8")  # what stdout does with it
    _table_lines(text)


def test_node_show_with_a_multi_line_reason_is_a_table(sqlite_database, tmp_path, capsys):
    base = ["--config-file", str(cli_run.empty_config(tmp_path)), "node"]
    assert cli.main(base + ["create", "--driver", "fake-hardware", "--name", "m1"]) == 0
    assert cli.main(base + ["maintenance", "set", "m1", "--reason",
                            "disk swap\nticket 42\x1b[2J"]) == 0
    capsys.readouterr()
    assert cli.main(base + ["show", "m1"]) == 0
    lines = _table_lines(capsys.readouterr().out)
    at = [n for n, line in enumerate(lines) if line.startswith("| maintenance_reason ")][0]
    assert "disk swap" in lines[at] and "ticket 42\\x1b[2J" in lines[at + 1]
    assert lines[at + 1].split("|")[1].strip() == ""  # the Field column, empty
    assert cli.main(base + ["show", "m1", "-f", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["maintenance_reason"] == "disk swap\nticket 42\x1b[2J"  # JSON: as stored


def test_version_is_printed_on_stdout(capsys):
    """There was no --version (``baremetal --version`` has one)."""
    from importlib import metadata
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    out, err = capsys.readouterr()
    assert out == "hwdrivers %s\n" % metadata.version("hwdrivers") and err == ""


def test_json_times_are_iso_8601_in_utc(sqlite_database, tmp_path, capsys):
    """They were ``2026-12-02 15:55:05.225003``: no ``T``, no offset, which a
    script reads as its local time; Ironic and ``baremetal -f json`` write
    ``2026-12-02T15:55:05.225003+00:00``."""
    import datetime
    base = ["--config-file", str(cli_run.empty_config(tmp_path)), "node"]
    assert cli.main(base + ["create", "--driver", "fake-hardware", "--name", "t1"]) == 0
    assert cli.main(base + ["maintenance", "set", "t1"]) == 0
    capsys.readouterr()
    assert cli.main(base + ["show", "t1", "-f", "json"]) == 0
    node = json.loads(capsys.readouterr().out)
    assert cli.main(base + ["history", "t1", "-f", "json"]) == 0
    event = json.loads(capsys.readouterr().out)[-1]
    for text in (node["created_at"], node["updated_at"], event["created_at"]):
        parsed = datetime.datetime.fromisoformat(text)
        assert "T" in text and parsed.utcoffset() == datetime.timedelta(0), text
        assert abs(datetime.datetime.now(datetime.UTC) - parsed) < datetime.timedelta(
            hours=1)


# -- -f value and -c COLUMN, as baremetal's -------------------------------------------

@pytest.fixture
def run(sqlite_database, tmp_path, capsys):
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True)


def test_value_format_and_columns_for_scripts(run):
    """``for n in $(hwdrivers node list -f value -c name)``: there was no way to
    print bare values or pick columns (baremetal has -f value and -c)."""
    run("node", "create", "--driver", "fake-hardware", "--name", "v1",
        "--extra", "rack=r1")
    run("node", "create", "--driver", "fake-hardware", "--name", "v2")
    run("node", "power", "on", "v1")
    out, _ = run("node", "list", "-f", "value", "-c", "name", "-c", "power_state")
    assert out == "v1 power on\nv2 \n"
    out, _ = run("node", "show", "v1", "-f", "value", "-c", "extra", "-c", "maintenance")
    assert out == '{"rack": "r1"}\nFalse\n'
    out, _ = run("node", "show", "v1", "-f", "json", "-c", "name", "-c", "power_state")
    assert json.loads(out) == {"name": "v1", "power_state": "power on"}
    out, _ = run("node", "list", "-c", "name", "-c", "extra")  # any field, not only shown
    lines = _table_lines(out)
    assert lines[1].split() == ["|", "name", "|", "extra", "|"]
    assert '{"rack": "r1"}' in lines[3]
    out, _ = run("node", "validate", "v1", "-f", "json", "-c", "Interface", "-c", "Result")
    assert {"Interface": "power", "Result": True} in json.loads(out)
    out, _ = run("node", "list", "--driver", "none-such", "-f", "json", "-c", "name")
    assert json.loads(out) == []
    _, err = run("node", "show", "v1", "-c", "powerstate", expect=1)
    assert err.startswith("ERROR: -c/--column powerstate: no such column here; choose "
                          "from: "), err
    assert "power_state" in err


def test_value_format_of_odd_values():
    stream = io.StringIO()
    output.emit([{"a": None, "b": {"k": [1]}, "c": "x\x1by"}], "value",
                columns=["a", "b", "c"], stream=stream)
    output.emit({"only": "one"}, "value", stream=stream)
    output.emit(None, "value", stream=stream)
    output.emit([], "value", stream=stream)
    assert stream.getvalue() == ' {"k": [1]} x\\x1by\none\n'


@pytest.mark.parametrize("doc, said", [
    ({"console_state": "on", "console_info": {"url": "fake://u-1"}},
     "node db1: its console is on at fake://u-1, which 'console connect' cannot attach "
     "to (it speaks tcp://HOST:PORT only); use a client for that URL"),
    ({"console_state": "off", "console_info": None},
     "node db1: the console is off; enable it first ('hwdrivers node console enable "
     "db1')"),
])
def test_console_connect_says_why_it_cannot_attach(doc, said):
    """An enabled console at a URL other than tcp:// was "the console is on;
    enable it first"."""
    from hwdrivers.cli import console
    from hwdrivers.cli import commands
    from hwdrivers.common import exception

    class Backend:
        def request(self, method, path, body=None, **kwargs):
            return doc

    args = commands.build_parser().parse_args(["node", "console", "connect", "db1"])
    with pytest.raises(exception.HWDriversError) as error:
        console.console_connect(args, Backend())
    assert str(error.value) == said


def test_yaml_format_is_the_json_document(run):
    """baremetal has -f yaml; the same document as -f json, times as text."""
    import yaml
    run("node", "create", "--driver", "fake-hardware", "--name", "y1",
        "--driver-info", "fake_address=10.0.0.9")
    for argv in (["node", "show", "y1"], ["node", "validate", "y1"],
                 ["node", "list", "-c", "name", "-c", "created_at"],
                 ["driver", "properties", "fake-hardware"]):
        as_json = json.loads(run(*argv, "-f", "json")[0])
        as_yaml = yaml.safe_load(run(*argv, "-f", "yaml")[0])
        if argv[1] == "show":  # updated_at may move between the two reads
            as_json.pop("updated_at"), as_yaml.pop("updated_at")
        assert as_yaml == as_json, argv
