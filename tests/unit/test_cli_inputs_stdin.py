"""Standard input: one line per reader, in order; a missing line is an error, never "".

``--password-stdin`` takes the first line, then each ``KEY=-`` field the
next one. Running out used to store an empty secret and exit 0.
"""

import io
import json

import pytest

from hwdrivers.cmd import cli
from tests import cli_run
from tests.unit.test_cli_url import StubAPI


@pytest.fixture
def run(sqlite_database, tmp_path, capsys, monkeypatch):
    """``run(*args, stdin="", expect=0)``: each call reads its own standard input."""
    cli_run.clear_api_env(monkeypatch)
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True,
                          monkeypatch=monkeypatch, stdin="")


def _names(run):
    out, _ = run("node", "list", "-f", "json")
    return [node["name"] for node in json.loads(out)]


def test_no_line_for_a_secret_is_an_error_and_nothing_is_created(run):
    _, err = run("node", "create", "--driver", "fake-hardware", "--name", "s2",
                 "--driver-info", "fake_password=-", expect=1)
    assert ("no line left on standard input for driver_info fake_password: give one "
            "line per KEY=- field, in order") in err
    assert _names(run) == []


def test_second_field_without_a_line_names_it_and_where_the_first_went(run):
    _, err = run("node", "create", "--driver", "fake-hardware", "--name", "s2",
                 "--driver-info", "fake_password=-", "--driver-info", "fake_username=-",
                 stdin="only-one\n", expect=1)
    assert "no line left on standard input for driver_info fake_username" in err
    assert "went to: driver_info fake_password" in err and "only-one" not in err
    assert _names(run) == []


def test_each_field_gets_its_own_line(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "s3",
        "--driver-info", "fake_password=-", "--extra", "note=-", stdin="pw-1\nhello\n")
    from hwdrivers.db import api as db_api
    node = db_api.get_node("s3")
    assert node["driver_info"]["fake_password"] == "pw-1"
    assert node["extra"] == {"note": "hello"}


def test_set_without_a_line_changes_nothing(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "s4",
        "--driver-info", "fake_password=-", stdin="kept\n")
    _, err = run("node", "set", "s4", "--driver-info", "fake_password=-", expect=1)
    assert "for driver_info fake_password" in err
    from hwdrivers.db import api as db_api
    assert db_api.get_node("s4")["driver_info"]["fake_password"] == "kept"


# -- over HTTP, after --password-stdin took the first line ---------------------------

@pytest.fixture
def api(monkeypatch, capsys):
    cli_run.clear_api_env(monkeypatch)
    stub = StubAPI(password="ops-pw")

    def call(*args, stdin=""):
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = cli.main(["--url", stub.url, "--username", "ops", "--password-stdin"]
                        + list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err
    yield stub, call
    stub.close()


def test_password_line_then_no_line_for_the_secret(api):
    stub, call = api
    code, _, err = call("node", "create", "--driver", "fake-hardware", "--name", "s2",
                        "--driver-info", "fake_password=-", stdin="ops-pw\n")
    assert code == 1
    assert "no line left on standard input for driver_info fake_password" in err
    assert "went to: the API password (--password-stdin)" in err and "ops-pw" not in err
    assert stub.requests == []


def test_password_then_secret_over_http(api):
    stub, call = api
    code, _, err = call("node", "create", "--driver", "fake-hardware", "--name", "s2",
                        "--driver-info", "fake_password=-", stdin="ops-pw\nbmc-pw\n")
    assert code == 0, err
    assert stub.created[0]["driver_info"] == {"fake_password": "bmc-pw"}


def test_password_stdin_on_empty_input_says_so(api):
    stub, call = api
    code, _, err = call("node", "list")
    assert code == 1
    assert "--password-stdin: standard input is empty" in err and "ops" in err
    assert "HWDRIVERS_PASSWORD" not in err
    assert stub.requests == []


def test_wrong_password_names_where_it_came_from(api, monkeypatch, capsys):
    stub, call = api
    code, _, err = call("node", "list", stdin="wrong-pw\n")
    assert code == 1
    assert "Incorrect username or password" in err and "wrong-pw" not in err
    assert "the password came from --password-stdin" in err
    assert "HWDRIVERS_PASSWORD" not in err

    monkeypatch.setenv("HWDRIVERS_PASSWORD", "wrong-pw")
    assert cli.main(["--url", stub.url, "--username", "ops", "node", "list"]) == 1
    err = capsys.readouterr().err
    assert "the password came from HWDRIVERS_PASSWORD" in err and "wrong-pw" not in err


def test_end_of_input_at_a_prompt_is_refused_too(run, monkeypatch, capsys):
    """On a terminal KEY=- prompts; Ctrl-D there was an EOFError traceback."""
    def eof(prompt):
        raise EOFError

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("getpass.getpass", eof)
    monkeypatch.setattr("sys.stdin", Terminal(""))
    code = cli.main(["node", "create", "--driver", "fake-hardware", "--name", "t1",
                     "--driver-info", "fake_password=-"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "no value typed for driver_info fake_password" in err
    assert _names(run) == []


def test_a_windows_line_ending_is_not_part_of_the_value(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "s5",
        "--driver-info", "fake_password=-", "--extra", "note=-",
        stdin="pw-crlf\r\nnote-crlf\r\n")
    from hwdrivers.db import api as db_api
    node = db_api.get_node("s5")
    assert node["driver_info"]["fake_password"] == "pw-crlf"
    assert node["extra"] == {"note": "note-crlf"}
