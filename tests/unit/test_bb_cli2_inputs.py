"""Bad input to ``hwdrivers``: one clear line naming the argument, exit 1, no traceback.

Bytes that are not UTF-8 in an argument reach Python as lone surrogates
(surrogateescape); a node name or UUID holding one ended in a
UnicodeEncodeError traceback from SQLite locally, from urllib over --url.
Files are read as bytes and decoded with a message naming the file.
"""

import io
import json

import pytest

from hwdrivers.cli import deploy
from hwdrivers.cmd import cli
from tests import cli_run
from tests.unit.test_cli_url import StubAPI

#: What ``$(printf 'web\xff1')`` becomes in sys.argv.
UNDECODABLE = "web\udcff1"


@pytest.fixture
def run(sqlite_database, tmp_path, capsys, monkeypatch):
    """Standard input starts empty; a test may set another before a call."""
    cli_run.clear_api_env(monkeypatch)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys, no_traceback=True)


@pytest.fixture
def stub():
    api = StubAPI()
    yield api
    api.close()


def _names(run):
    return [n["name"] for n in json.loads(run("node", "list", "-f", "json")[0])]


@pytest.mark.parametrize("argv, named", [
    (["node", "show", UNDECODABLE], "argument node"),
    (["node", "power", "on", UNDECODABLE], "argument node"),
    (["node", "delete", "keep", UNDECODABLE], "argument nodes"),
    (["node", "unset", "keep", "--driver-info", UNDECODABLE], "--driver-info"),
    (["node", "list", "--driver", UNDECODABLE], "--driver"),
    (["node", "power", "off", "--name-glob", UNDECODABLE], "--name-glob"),
])
def test_an_argument_that_is_not_utf8_is_named_locally(run, argv, named):
    run("node", "create", "--driver", "fake-hardware", "--name", "keep")
    _, err = run(*argv, expect=1)
    assert err.startswith("ERROR: %s is not valid UTF-8 text" % named), err
    assert "pass valid UTF-8 text" in err
    assert _names(run) == ["keep"]  # nothing deleted or changed


def test_an_argument_that_is_not_utf8_is_refused_before_any_request(run, stub):
    _, err = run("--url", stub.url, "node", "show", UNDECODABLE, expect=1)
    assert "argument node is not valid UTF-8 text" in err
    assert stub.requests == []


def test_a_node_file_that_is_not_utf8_names_the_line(run, tmp_path):
    path = tmp_path / "nodes.txt"
    path.write_bytes(b"keep\n# rack 2\nweb\xff1\n")
    _, err = run("node", "power", "on", "--file", str(path), expect=1)
    assert err.strip() == ("ERROR: --file %s is not UTF-8 text (line 3 holds a byte that "
                           "does not decode); save it as UTF-8" % path), err


def test_a_config_drive_file_that_is_not_utf8_is_said_plainly(tmp_path):
    path = tmp_path / "drive.bin"
    path.write_bytes(b"\x1f\x8b\x08\x00\xff")
    with pytest.raises(SystemExit) as caught:
        deploy.parse_config_drive(str(path))
    assert str(caught.value).startswith("error: --config-drive %s is not UTF-8 text" % path)


@pytest.mark.parametrize("argv", [
    ["node", "power", "on", "keep", "--power-timeout", "nan"],
    ["node", "power", "off", "keep", "--power-timeout", "inf"],
    ["node", "power", "on", "--all", "--power-timeout", "nan"],
    ["node", "manage", "keep", "--wait-timeout", "-1"],
    ["node", "deploy", "keep", "--wait-timeout", "nan"],
    ["node", "undeploy", "keep", "--wait-timeout", "0"],
    ["node", "console", "enable", "keep", "--wait-timeout", "nan"],
    ["node", "console", "disable", "keep", "--wait-timeout", "-5"],
])
def test_a_timeout_that_is_not_seconds_above_zero_is_refused_before_any_request(
        run, stub, argv):
    """nan and inf were a ValueError/OverflowError traceback over --url, or an
    endless wait; -1 gave up at once, "still in progress after -1 s"."""
    option, value = argv[-2:]
    _, err = run("--url", stub.url, *argv, expect=1)
    assert err.startswith("ERROR: %s %g: the timeout must be a positive number of seconds"
                          % (option, float(value))), err
    assert stub.requests == []


def test_a_timeout_that_is_not_finite_is_refused_locally(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "keep")
    _, err = run("node", "power", "on", "keep", "--power-timeout", "nan", expect=1)
    assert "--power-timeout nan: the timeout must be a positive number" in err
    node = json.loads(run("node", "show", "keep", "-f", "json")[0])
    assert node["power_state"] is None


@pytest.mark.parametrize("argv", [
    ["node", "show", "detail"],
    ["node", "power", "on", "detail"],
    ["node", "set", "detail"],
])
def test_detail_is_no_node_over_http_as_locally(run, stub, argv):
    """``GET /v1/nodes/detail`` is the node list: ``node show detail`` printed an
    empty node and exited 0."""
    _, err = run("--url", stub.url, *argv, expect=1)
    assert err.startswith("ERROR: Node detail could not be found"), err
    assert stub.requests == []
    _, err = run(*argv, expect=1)
    assert err.startswith("ERROR: Node detail could not be found"), err


@pytest.mark.parametrize("argv, named", [
    (["node", "show", ""], "argument node"),
    (["node", "delete", "keep", ""], "argument nodes"),
    (["node", "maintenance", "set", ""], "argument node"),
])
def test_an_empty_node_is_refused_naming_the_argument(run, stub, argv, named):
    expected = ("ERROR: %s is empty: give a node's name or UUID ('hwdrivers node list' "
                "shows them)\n" % named)
    _, err = run("--url", stub.url, *argv, expect=1)
    assert err == expected and stub.requests == []
    run("node", "create", "--driver", "fake-hardware", "--name", "keep")
    _, err = run(*argv, expect=1)
    assert err == expected
    assert _names(run) == ["keep"]


def test_limit_zero_lists_every_node_as_over_http(run, stub):
    """``--limit 0`` listed no node locally, every node over --url (and in
    ``baremetal node list``); a negative one is refused naming the option."""
    for name in ("l1", "l2", "l3"):
        run("node", "create", "--driver", "fake-hardware", "--name", name)
    assert _names(run) == ["l1", "l2", "l3"]
    out, _ = run("node", "list", "--limit", "0", "-f", "json")
    assert [n["name"] for n in json.loads(out)] == ["l1", "l2", "l3"]
    out, _ = run("node", "list", "--limit", "2", "-f", "json")
    assert [n["name"] for n in json.loads(out)] == ["l1", "l2"]
    run("--url", stub.url, "node", "list", "--limit", "0")
    assert stub.requests == [("GET", "/v1/nodes/detail")]  # no limit=0 sent
    with pytest.raises(SystemExit) as caught:
        run("node", "list", "--limit", "-1")
    assert caught.value.code == 2


def test_an_unknown_provision_state_is_refused_locally_as_over_http(run, stub):
    run("node", "create", "--driver", "fake-hardware", "--name", "keep")
    for base in ((), ("--url", stub.url)):
        _, err = run(*base, "node", "list", "--provision-state", "activ", expect=1)
        assert err.startswith("ERROR: --provision-state 'activ' is not a provision "
                              "state; use one of: enroll, "), err
        assert "wait call-back" in err
    assert stub.requests == []
    out, _ = run("node", "list", "--provision-state", "enroll", "-f", "json")
    assert [n["name"] for n in json.loads(out)] == ["keep"]


def test_a_secret_typed_on_the_command_line_is_warned_of_by_node_create_and_set(
        run, monkeypatch):
    """The one-shot commands warned; ``node create``/``set`` said nothing."""
    warning = ("WARNING: fake_password given on the command line is visible in the "
               "process list; use --driver-info fake_password=- or --driver-info-file\n")
    _, err = run("node", "create", "--driver", "fake-hardware", "--name", "w1",
                 "--driver-info", "fake_password=hunter2", "--driver-info",
                 "fake_address=10.0.0.1")
    assert err == warning
    _, err = run("node", "set", "w1", "--driver-info", "fake_password=hunter3")
    assert err == warning
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter4\n"))
    _, err = run("node", "set", "w1", "--driver-info", "fake_password=-",
                 "--driver-info", "fake_address=10.0.0.2")
    assert err == ""


def test_a_driver_info_file_nested_too_deep_is_an_error_not_a_traceback(run, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"fake_address": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _, err = run("node", "create", "--driver", "fake-hardware", "--driver-info-file",
                 str(path), expect=1)
    assert err == ("ERROR: --driver-info-file %s nests arrays or objects too deep to "
                   "read; it must hold a JSON object of field: value\n" % path)


def test_a_config_drive_nested_too_deep_is_an_error_not_a_traceback(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"meta_data": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SystemExit) as caught:
        deploy.parse_config_drive(str(path))
    assert str(caught.value) == "error: --config-drive JSON nests arrays or objects too " \
                                "deep to read"


def test_api_credentials_that_are_not_utf8_are_sent_as_given(run, stub, monkeypatch):
    """A Latin-1 password in HWDRIVERS_PASSWORD (or on --password-stdin) reaches
    Python as surrogates; encoding it strictly was a UnicodeEncodeError traceback.
    Basic credentials are bytes: the bytes given are sent."""
    import base64

    from hwdrivers.cli import http as http_backend
    backend = http_backend.HTTPBackend(stub.url, username="ops", password="pa\udcffss")
    assert backend._auth == "Basic " + base64.b64encode(b"ops:pa\xffss").decode()
    monkeypatch.setenv("HWDRIVERS_PASSWORD", "pa\udcffss")
    run("--url", stub.url, "--username", "ops", "node", "list")
    assert stub.requests == [("GET", "/v1/nodes/detail")]


def test_a_hwdrivers_url_that_is_not_utf8_is_named(run, stub, monkeypatch):
    monkeypatch.setenv("HWDRIVERS_URL", stub.url + "/\udcff")
    _, err = run("node", "list", expect=1)
    assert err.startswith("ERROR: HWDRIVERS_URL is not valid UTF-8 text"), err
    assert stub.requests == []


@pytest.mark.parametrize("argv", [["node", "list"], ["driver", "list"]])
def test_a_config_file_that_cannot_be_read_is_named(tmp_path, capsys, argv):
    """oslo.config lets OSError and UnicodeDecodeError through: tracebacks."""
    latin1 = tmp_path / "latin1.conf"
    latin1.write_bytes(b"[DEFAULT]\n# caf\xe9\nstate_path = %s\n" % str(tmp_path).encode())
    code = cli.main(["--config-file", str(latin1)] + argv)
    err = capsys.readouterr().err
    assert code == 1 and err == ("ERROR: config file %s is not UTF-8 text (line 2 holds a "
                                 "byte that does not decode); save it as UTF-8\n" % latin1)
    code = cli.main(["--config-file", str(tmp_path)] + argv)
    err = capsys.readouterr().err
    assert code == 1 and err == "ERROR: cannot read config file %s: Is a directory\n" % (
        tmp_path)


@pytest.mark.parametrize("argv, said", [
    (["node", "boot-device", "show", "keep", "pxe"],
     "boot-device show takes no DEVICE or --persistent: to set one, run "
     "'hwdrivers node boot-device set keep pxe'"),
    (["node", "boot-device", "show", "keep", "--persistent"],
     "boot-device show takes no DEVICE or --persistent: to set one, run "
     "'hwdrivers node boot-device set keep DEVICE --persistent'"),
    (["node", "boot-device", "set", "keep", "pxe", "--supported"],
     "--supported is for 'hwdrivers node boot-device show keep --supported'"),
])
def test_boot_device_options_of_the_other_action_are_refused(run, argv, said):
    """``show keep pxe`` (meant as set) printed the current device and exited 0."""
    run("node", "create", "--driver", "fake-hardware", "--name", "keep")
    _, err = run(*argv, expect=1)
    assert err == "ERROR: %s\n" % said
    out, _ = run("node", "boot-device", "show", "keep", "-f", "json")
    assert json.loads(out)["boot_device"] is None  # nothing was set


class _Answering:
    """A TCP server answering every connection with ``answer``, as it comes."""

    def __init__(self, answer):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]

        def serve():
            while True:
                try:
                    conn, _ = self.sock.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(65536)
                    conn.sendall(answer)
        threading.Thread(target=serve, daemon=True).start()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("answer, said", [
    (b"SSH-2.0-OpenSSH_9.2\r\n", "did not answer in HTTP (BadStatusLine: "),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"nodes\"",
     "did not answer in HTTP (IncompleteRead: "),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
     "answered GET /v1/nodes/detail with something that is not a JSON object"),
])
def test_a_url_that_is_not_the_api_is_said_plainly(run, answer, said):
    """An ssh port, an answer cut short, or some other JSON: tracebacks before."""
    server = _Answering(answer)
    try:
        _, err = run("--url", server.url, "node", "list", expect=1)
    finally:
        server.close()
    assert err.startswith("ERROR: ") and said in err, err
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv, said", [
    (["node", "set", "keep", "--driver-info", "fake_address=10.0.0.1", "--driver-info",
      "fake_password:hunter2"],
     "--driver-info number 2 (of 2) must look like KEY=VALUE; it is not shown, as it "
     "may hold a secret"),
    (["node", "create", "--driver", "fake-hardware", "--driver-info", "hunter2"],
     "--driver-info number 1 (of 1) must look like KEY=VALUE; it is not shown, as it "
     "may hold a secret"),
    (["power", "status", "--driver", "fake-hardware", "--driver-info",
      "fake_password hunter2"],
     "--driver-info number 1 (of 1) must look like KEY=VALUE; it is not shown, as it "
     "may hold a secret"),
    (["node", "unset", "keep", "--driver-info", "fake_password=hunter2"],
     "node unset --driver-info takes a KEY alone: 'unset --driver-info fake_password' "
     "removes the field, 'set --driver-info fake_password=VALUE' changes it (the value "
     "given is not shown: it may be a secret)"),
])
def test_a_malformed_driver_info_argument_is_never_echoed(run, stub, argv, said):
    """``--driver-info ipmi_password:hunter2`` was refused with the argument,
    the password, in the message (and so in CI logs)."""
    run("node", "create", "--driver", "fake-hardware", "--name", "keep")
    _, err = run(*argv, expect=1)
    assert err == "ERROR: %s\n" % said and "hunter2" not in err
    if argv[0] == "node":
        _, err = run("--url", stub.url, *argv, expect=1)
        assert err == "ERROR: %s\n" % said and stub.requests == []


def test_a_node_file_can_be_standard_input(run, stub, monkeypatch):
    """``node list -f value -c name | grep rack1 | node power off --file -``:
    '-' was a file name ("cannot be read: No such file or directory")."""
    for name in ("rack1-a", "rack1-b", "rack2-a"):
        run("node", "create", "--driver", "fake-hardware", "--name", name)
    monkeypatch.setattr("sys.stdin", io.StringIO("rack1-a\n# spare\nrack1-b\n"))
    out, _ = run("node", "power", "on", "--file", "-", "-f", "value")
    assert out == "rack1-a power on\nrack1-b power on\n"
    out, _ = run("node", "list", "-f", "value", "-c", "name", "-c", "power_state")
    assert out == "rack1-a power on\nrack1-b power on\nrack2-a \n"
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    _, err = run("node", "power", "on", "--file", "-", expect=1)
    assert err == ("ERROR: --file - (standard input) names no node (one name or UUID a "
                   "line)\n")
    # After the API password, as every reader of stdin takes its lines in turn.
    monkeypatch.setenv("HWDRIVERS_USERNAME", "ops")
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\nghost\n"))
    _, err = run("--url", stub.url, "--password-stdin", "node", "power", "on",
                 "--file", "-", expect=1)
    assert "ghost: " in err and "s3cret" not in err
    assert stub.requests and all("s3cret" not in path for _, path in stub.requests)


def test_a_node_file_from_a_windows_editor_is_read(run, tmp_path):
    """A byte-order mark made the first node "\\ufeffbom1", not found."""
    run("node", "create", "--driver", "fake-hardware", "--name", "bom1")
    run("node", "create", "--driver", "fake-hardware", "--name", "bom2")
    path = tmp_path / "nodes.txt"
    path.write_bytes(b"\xef\xbb\xbfbom1\r\nbom2\r\n")
    out, _ = run("node", "power", "on", "--file", str(path), "-f", "value")
    assert out == "bom1 power on\nbom2 power on\n"
    path.write_bytes(b"\xef\xbb\xbfbom1\r\n\xff\r\n")
    _, err = run("node", "power", "on", "--file", str(path), expect=1)
    assert "(line 2 holds a byte that does not decode)" in err


def test_a_config_drive_file_from_a_windows_editor_is_read(tmp_path):
    path = tmp_path / "drive.json"
    path.write_bytes(b'\xef\xbb\xbf{"user_data": "#cloud-config"}\r\n')
    assert deploy.parse_config_drive(str(path)) == {"user_data": "#cloud-config"}


def test_escape_sequences_in_errors_do_not_reach_the_terminal(run):
    """An error text comes from the API, a BMC or a tool; ``\\x1b]0;...\\x07``
    in it retitled the operator's terminal (others hide or rewrite lines)."""
    body = json.dumps({"error_message": json.dumps({
        "faultstring": "BMC said: \x1b]0;owned\x07\x1b[2Jdone", "faultcode": "Client"})})
    answer = ("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
              "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode()
    server = _Answering(answer)
    try:
        _, err = run("--url", server.url, "node", "show", "n1", expect=1)
    finally:
        server.close()
    assert err == "ERROR: BMC said: \\x1b]0;owned\\x07\\x1b[2Jdone\n"


def test_escape_sequences_in_a_bulk_progress_line_are_shown_escaped():
    from hwdrivers.cli import bulk
    from hwdrivers.common import exception

    def act(ident):
        raise exception.HWDriversError("ipmitool: \x1b[31mfailed\x1b[0m")
    stream = io.StringIO()
    results = bulk.run(["a"], act, "power on", parallel=1, stream=stream)
    assert stream.getvalue() == "[1/1] a: ipmitool: \\x1b[31mfailed\\x1b[0m\n"
    assert results[0]["error"] == "ipmitool: \x1b[31mfailed\x1b[0m"  # JSON: as said
