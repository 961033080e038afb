"""``hwdrivers --url``: the CLI over a real hwdrivers-server, same output as local.

The local backend reads the very database the server uses (the same SQLite
file), so each command's output over HTTP can be compared with the local
one on the same nodes.
"""

import io
import json
import time

import pytest

from hwdrivers.cli import http as http_backend
from hwdrivers.cmd import cli
from tests import cli_run
from tests.functional.server_proc import ServerProcess, free_tcp_port

POWER_DELAY = 0.3
#: Database internals the Ironic node document does not carry.
LOCAL_ONLY = {"id", "boot_device", "boot_device_persistent", "power_sync_failures"}
#: What only a server knows: the conductor that owns the node.
REMOTE_ONLY = {"conductor"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Both sides use the defaults (every in-tree driver), so outputs compare;
    # an unreachable BMC fails after 2 s of retries rather than 30.
    proc = ServerProcess(tmp_path_factory.mktemp("cli-http"),
                         {"fake": {"power_delay": POWER_DELAY},
                          "redfish": {"command_retry_timeout": "2"}}).start()
    yield proc
    proc.stop()


@pytest.fixture
def run(server, tmp_path, capsys, monkeypatch):
    """``run(*args, local=False)``: the CLI over --url (or on the server's DB)."""
    yield from cli_run.server_runner(server, tmp_path, capsys, monkeypatch)


def both(run, *args, **kwargs):
    return run(*args, **kwargs), run(*args, local=True, **kwargs)


def test_create_show_list_match_local(run):
    out, _ = run("node", "create", "--driver", "fake-hardware", "--name", "h1",
                 "--driver-info", "fake_username=admin", "--driver-info-file", "/dev/null",
                 "--property", "cpus=4", "--extra", "rack=r1", "-f", "json",
                 expect=1)  # /dev/null is not a JSON object: refused before any request
    out, _ = run("node", "create", "--driver", "fake-hardware", "--name", "h1",
                 "--driver-info", "fake_username=admin", "--property", "cpus=4",
                 "--extra", "rack=r1", "-f", "json")
    created = json.loads(out)
    assert created["name"] == "h1" and created["properties"] == {"cpus": "4"}

    (http_out, _), (local_out, _) = both(run, "node", "show", "h1", "-f", "json")
    remote, local = json.loads(http_out), json.loads(local_out)
    assert set(local) - set(remote) == LOCAL_ONLY
    assert set(remote) - set(local) == REMOTE_ONLY
    assert remote["conductor"]  # the server's host: who drives the node
    assert {k: v for k, v in remote.items() if k not in REMOTE_ONLY} == {
        key: local[key] for key in remote if key not in REMOTE_ONLY}
    assert created == remote

    (http_out, _), (local_out, _) = both(run, "node", "show", "h1")
    strip = [line for line in local_out.splitlines()
             if not any("| %s " % key in line for key in LOCAL_ONLY)]
    assert [line for line in http_out.splitlines()
            if not any("| %s " % key in line for key in REMOTE_ONLY)] == strip
    assert any(line.startswith("| conductor ") for line in http_out.splitlines())

    (http_out, _), (local_out, _) = both(run, "node", "list")
    assert http_out == local_out and "h1" in http_out
    (http_out, _), (local_out, _) = both(run, "node", "list", "--driver", "fake-hardware",
                                         "--limit", "1", "-f", "json")
    assert json.loads(http_out)[0]["uuid"] == json.loads(local_out)[0]["uuid"]


def test_list_follows_pages(run, server):
    for index in range(3):
        run("node", "create", "--driver", "fake-hardware", "--name", "pg%d" % index)
    names = [n["name"] for n in json.loads(run("node", "list", "-f", "json")[0])]
    assert {"pg0", "pg1", "pg2"} <= set(names)
    # Page by page through the API (limit 2 per page), like the local list.
    backend = http_backend.HTTPBackend(server.url)
    original = backend.request
    pages = []

    def small_pages(method, path, **kwargs):
        if path == "/v1/nodes/detail":
            kwargs["query"] = dict(kwargs.get("query") or {}, limit=2)
            pages.append(1)
        return original(method, path, **kwargs)

    backend.request = small_pages
    assert [n["name"] for n in backend.node_list()] == names
    assert len(pages) >= 2


def test_power_waits_for_the_target_like_local(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "p1")
    start = time.monotonic()
    out, _ = run("node", "power", "on", "p1", "-f", "json")
    assert json.loads(out) == {"power_state": "power on"}
    assert time.monotonic() - start >= POWER_DELAY  # it waited for the hardware
    (http_out, _), (local_out, _) = both(run, "node", "power", "status", "p1")
    assert http_out == local_out and "power on" in http_out
    out, _ = run("node", "power", "off", "p1", "-f", "json")
    assert json.loads(out) == {"power_state": "power off"}
    out, _ = run("node", "power", "reboot", "p1", "--power-timeout", "30", "-f", "json")
    assert json.loads(out) == {"power_state": "power on"}
    out, _ = run("node", "power", "off", "p1", "--soft", "-f", "json")
    assert json.loads(out) == {"power_state": "power off"}
    _, err = run("node", "power", "on", "p1", "--power-timeout", "-1", expect=1)
    assert "timeout must be a positive number" in err


def test_set_unset_validate_boot_device_delete(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "s1")
    out, _ = run("node", "set", "s1", "--extra", "a/b=c", "--driver-info",
                 "fake_password=hunter2", "--management-interface", "noop", "-f", "json")
    node = json.loads(out)
    assert node["extra"] == {"a/b": "c"} and node["management_interface"] == "noop"
    assert node["driver_info"]["fake_password"] == "******"
    out, _ = run("node", "unset", "s1", "--management-interface", "--extra", "a/b",
                 "--driver-info", "fake_password", "-f", "json")
    node = json.loads(out)
    assert node["extra"] == {} and node["management_interface"] == "fake"
    assert "fake_password" not in node["driver_info"]

    (http_out, _), (local_out, _) = both(run, "node", "validate", "s1")
    assert http_out == local_out and "power" in http_out

    out, _ = run("node", "boot-device", "set", "s1", "pxe", "--persistent", "-f", "json")
    assert json.loads(out) == {"boot_device": "pxe", "persistent": True}
    (http_out, _), (local_out, _) = both(run, "node", "boot-device", "show", "s1")
    assert http_out == local_out
    (http_out, _), (local_out, _) = both(run, "node", "boot-device", "show", "s1",
                                         "--supported", "-f", "json")
    assert http_out == local_out

    run("node", "delete", "s1")
    (_, http_err), (_, local_err) = both(run, "node", "show", "s1", expect=1)
    assert http_err == local_err
    assert "Node s1 could not be found" in http_err


def test_errors_match_local(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "e1")
    for args in (("node", "create", "--driver", "nope"),
                 ("node", "set", "e1", "--driver-info", "fake_pasword=x"),
                 ("node", "unset", "e1", "--extra", "missing")):
        (_, http_err), (_, local_err) = both(run, *args, expect=1)
        assert http_err.startswith("ERROR: ")
        # The API may prefix the field it blames ("Field driver: ...").
        assert local_err[len("ERROR: "):].strip() in http_err, (args, http_err, local_err)


def test_drivers(run):
    (http_out, _), (local_out, _) = both(run, "driver", "list", "-f", "json")
    assert json.loads(http_out) == json.loads(local_out)
    (http_out, _), (local_out, _) = both(run, "driver", "show", "fake-hardware",
                                         "-f", "json")
    remote, local = json.loads(http_out), json.loads(local_out)
    assert remote == local
    out, _ = run("driver", "properties", "fake-hardware")
    assert "fake_password" in out


def test_inject_nmi_and_sensors(run, server):
    run("node", "create", "--driver", "fake-hardware", "--name", "x1")
    (http_out, _), (local_out, _) = both(run, "node", "inject-nmi", "x1")
    assert http_out == local_out == ""
    # Ironic's API has no sensor endpoint; the CLI says so instead of a bare 404.
    _, err = run("node", "sensors", "x1", expect=1)
    assert "does not serve sensor data" in err and server.url in err


def test_url_from_environment_and_unreachable_server(run, server, monkeypatch, capsys):
    monkeypatch.setenv("HWDRIVERS_URL", server.url)
    assert cli.main(["node", "list", "-f", "json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out), list)
    port = free_tcp_port()
    assert cli.main(["--url", "http://127.0.0.1:%d" % port, "node", "list"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the hwdrivers API at http://127.0.0.1:%d" % port in err
    assert cli.main(["--url", "ftp://x", "node", "list"]) == 1
    assert "is not an http(s) URL" in capsys.readouterr().err


def test_power_failure_reports_last_error(monkeypatch):
    """Error path: the operation ends with last_error (scripted API answers)."""
    backend = http_backend.HTTPBackend("http://127.0.0.1:1")
    answers = iter([
        {"uuid": "u1"}, None,
        {"power_state": "power off", "target_power_state": "power on", "last_error": None},
        {"power_state": "error", "target_power_state": None,
         "last_error": "Node n1: BMC 10.0.0.9 refused the connection"},
    ])
    calls = []

    def scripted(method, path, **kwargs):
        calls.append((method, path, kwargs.get("body")))
        return next(answers)

    monkeypatch.setattr(backend, "request", scripted)
    monkeypatch.setattr(http_backend, "POLL_INTERVAL", 0)
    with pytest.raises(http_backend.APIRequestError, match="refused the connection"):
        backend.node_power("n1", "power on", timeout=2.5)
    assert calls[1] == ("PUT", "/v1/nodes/u1/states/power",
                        {"target": "power on", "timeout": 3})


# -- http_basic ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    import bcrypt

    base = tmp_path_factory.mktemp("cli-auth")
    users = base / "htpasswd"
    users.write_text("ops:%s\nwatcher:%s\n" % (
        bcrypt.hashpw(b"ops-pw", bcrypt.gensalt(4)).decode(),
        bcrypt.hashpw(b"watch-pw", bcrypt.gensalt(4)).decode()))
    proc = ServerProcess(base, {"api": {
        "auth_strategy": "http_basic", "http_basic_auth_user_file": str(users),
        "reader_users": "watcher"}}).start()
    yield proc
    proc.stop()


def test_http_basic_credentials(auth_server, monkeypatch, capsys):
    for name in ("HWDRIVERS_URL", "HWDRIVERS_USERNAME", "HWDRIVERS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    url = ["--url", auth_server.url]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    assert cli.main(url + ["node", "list"]) == 1
    err = capsys.readouterr().err
    assert "needs credentials" in err and "HWDRIVERS_USERNAME" in err

    assert cli.main(url + ["--username", "ops", "node", "list"]) == 1
    assert "set HWDRIVERS_PASSWORD or pass --password-stdin" in capsys.readouterr().err

    monkeypatch.setenv("HWDRIVERS_USERNAME", "ops")
    monkeypatch.setenv("HWDRIVERS_PASSWORD", "wrong")
    assert cli.main(url + ["node", "list"]) == 1
    err = capsys.readouterr().err
    assert "Incorrect username or password" in err and "wrong" not in err

    monkeypatch.setenv("HWDRIVERS_PASSWORD", "ops-pw")
    assert cli.main(url + ["node", "create", "--driver", "fake-hardware",
                           "--name", "a1"]) == 0
    assert "a1" in capsys.readouterr().out
    assert cli.main(url + ["node", "power", "on", "a1", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"power_state": "power on"}

    # The reader, with the password on stdin: reads yes, changes no.
    monkeypatch.delenv("HWDRIVERS_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO("watch-pw\n"))
    assert cli.main(url + ["--username", "watcher", "--password-stdin",
                           "node", "show", "a1", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["power_state"] == "power on"
    monkeypatch.setattr("sys.stdin", io.StringIO("watch-pw\n"))
    assert cli.main(url + ["--username", "watcher", "--password-stdin",
                           "node", "power", "off", "a1"]) == 1
    assert "reader role" in capsys.readouterr().err


def test_password_is_never_an_argument(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--url", "http://127.0.0.1:1", "--username", "u", "--password", "p",
                  "node", "list"])
    assert info.value.code == 2
    capsys.readouterr()
    assert cli.main(["--password-stdin", "node", "list"]) == 1
    assert "give --url" in capsys.readouterr().err


# -- power state read at manage; properties; maintenance, provision, history, bulk ----

def test_power_status_is_the_record_in_both_modes(run):
    """Never read: both say so; `node manage` reads it (in the server's worker)."""
    run("node", "create", "--driver", "fake-hardware", "--name", "ps1")
    (http_out, _), (local_out, _) = both(run, "node", "power", "status", "ps1")
    assert http_out == local_out and "unknown (not read yet)" in http_out
    (http_out, _), (local_out, _) = both(run, "node", "power", "status", "ps1", "-f", "json")
    assert json.loads(http_out) == json.loads(local_out) == {"power_state": None}
    out, _ = run("node", "manage", "ps1", "-f", "json")
    assert json.loads(out)["provision_state"] == "manageable"
    (http_out, _), (local_out, _) = both(run, "node", "power", "status", "ps1")
    assert http_out == local_out and "power off" in http_out
    # The same through the local backend, on a node of its own.
    run("node", "create", "--driver", "fake-hardware", "--name", "ps2")
    out, _ = run("node", "manage", "ps2", "-f", "json", local=True)
    assert json.loads(out)["power_state"] == "power off"
    (http_out, _), (local_out, _) = both(run, "node", "power", "status", "ps2")
    assert http_out == local_out and "power off" in http_out


def test_failed_manage_leaves_power_unknown_with_last_error(run, server):
    """An unreachable BMC: back to enroll, last_error names it, power still unknown."""
    from tests.functional.server_proc import free_tcp_port
    port = free_tcp_port()
    run("node", "create", "--driver", "redfish", "--name", "mf1", "--driver-info",
        "redfish_address=http://127.0.0.1:%d" % port, "--driver-info",
        "redfish_system_id=/redfish/v1/Systems/x")
    _, err = run("node", "manage", "mf1", "--wait-timeout", "120", expect=1)
    assert "manage failed" in err and "127.0.0.1:%d" % port in err
    node = json.loads(run("node", "show", "mf1", "-f", "json")[0])
    assert node["provision_state"] == "enroll" and node["power_state"] is None
    assert "127.0.0.1:%d" % port in node["last_error"]
    (http_out, _), (local_out, _) = both(run, "node", "history", "mf1", "-f", "json")
    events = json.loads(http_out)
    assert events == json.loads(local_out)
    assert [(e["severity"], e["event_type"]) for e in events] == [
        ("INFO", "provisioning"), ("ERROR", "provisioning"), ("INFO", "provisioning")]
    assert events[0]["event"] == "provision state verifying (target manageable)"
    assert events[1]["event"] == node["last_error"]
    assert events[2]["event"] == "provision state enroll"
    (http_out, _), (local_out, _) = both(run, "node", "history", "mf1")
    assert http_out == local_out and "ERROR" in http_out


def test_driver_properties_table_is_the_same_in_both_modes(run):
    for driver in ("ipmi", "fake-hardware"):
        (http_out, _), (local_out, _) = both(run, "driver", "properties", driver)
        assert http_out == local_out
        (http_out, _), (local_out, _) = both(run, "driver", "properties", driver,
                                             "-f", "json")
        assert json.loads(http_out) == json.loads(local_out)
    table = run("driver", "properties", "ipmi")[0]
    (line,) = [row for row in table.splitlines() if "| ipmi_password" in row
               and "| power " in row]
    assert "| secret " in line and "| str " in line


def test_maintenance_provision_and_history_match_local(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "mh1")
    out, _ = run("node", "maintenance", "set", "mh1", "--reason", "disk swap", "-f", "json")
    node = json.loads(out)
    assert node["maintenance"] is True and node["maintenance_reason"] == "disk swap"
    (http_out, _), (local_out, _) = both(run, "node", "history", "mh1", "--long")
    assert http_out == local_out and "maintenance set: disk swap" in http_out
    _, err = run("node", "provide", "mh1", expect=1)  # enroll: not allowed
    assert "allowed actions" in err
    out, _ = run("node", "maintenance", "unset", "mh1", "-f", "json", local=True)
    assert json.loads(out)["maintenance"] is False
    out, _ = run("node", "manage", "mh1", "-f", "json")
    assert json.loads(out)["provision_state"] == "manageable"
    for local in (False, True):
        out, _ = run("node", "inspect", "mh1", "-f", "json", local=local)
        assert json.loads(out)["provision_state"] == "manageable"
    out, _ = run("node", "provide", "mh1", "-f", "json")
    assert json.loads(out)["provision_state"] == "available"
    out, _ = run("node", "manage", "mh1", "-f", "json", local=True)
    assert json.loads(out)["provision_state"] == "manageable"
    _, err = run("node", "abort", "mh1", expect=1)
    assert "cannot abort" in err


@pytest.mark.parametrize("local", [False, True], ids=["url", "local"])
def test_bulk_power_with_failure_summary(run, tmp_path, local):
    tag = "bl%s" % ("l" if local else "u")
    for index in range(4):
        run("node", "create", "--driver", "fake-hardware", "--name", "%s-%d" % (tag, index))
    out, err = run("node", "power", "on", "--name-glob", "%s-*" % tag, "-f", "json",
                   local=local)
    results = json.loads(out)
    assert [r["node"] for r in results] == ["%s-%d" % (tag, i) for i in range(4)]
    assert all(r["result"] == "power on" and r["error"] is None for r in results)
    # Not a terminal: one plain progress line per node.
    assert sorted(line.split("] ", 1)[1] for line in err.splitlines()) == sorted(
        "%s-%d: power on" % (tag, i) for i in range(4))

    nodes = tmp_path / "nodes.txt"
    nodes.write_text("# rack 1\n%s-0\n%s-ghost\n%s-2\n" % (tag, tag, tag))
    out, err = run("node", "power", "off", "--file", str(nodes), expect=1, local=local)
    assert "%s-ghost could not be found" % tag in out  # the failure table
    assert "%s-0" % tag not in out
    assert "ERROR: 1 of 3 nodes failed" in err
    states = {n["name"]: n["power_state"] for n in json.loads(
        run("node", "list", "-f", "json", local=local)[0])}
    assert states["%s-0" % tag] == states["%s-2" % tag] == "power off"
    assert states["%s-1" % tag] == "power on"
    out, _ = run("node", "power", "reboot", "--all", "--driver", "fake-hardware",
                 "-f", "json", local=local)
    assert {r["node"] for r in json.loads(out)} >= {"%s-%d" % (tag, i) for i in range(4)}
    _, err = run("node", "power", "on", expect=1, local=local)
    assert "--all" in err


def test_driver_properties_from_a_server_without_the_extension(monkeypatch):
    """Ironic's own API ignores ?detail: the CLI says so rather than guess secrets."""
    backend = http_backend.HTTPBackend("http://127.0.0.1:1")
    monkeypatch.setattr(backend, "request", lambda *a, **k: {
        "ipmi_password": "Password. Optional."})
    with pytest.raises(http_backend.APIRequestError, match="only Ironic's driver "
                                                           "properties map"):
        backend.driver_properties("ipmi")
