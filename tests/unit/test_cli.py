"""The ``hwdrivers`` command on the local database, and one-shot mode."""

import argparse
import json

import pytest

from hwdrivers.cli import commands
from hwdrivers.cmd import cli
from hwdrivers.common import exception
from tests import cli_run


@pytest.fixture
def run(database, tmp_path, capsys):
    conf = tmp_path / "empty.conf"
    conf.write_text("")
    return cli_run.runner(conf, capsys)


def test_enroll_power_on_read_state(run):
    out, _ = run("node", "create", "--driver", "fake-hardware", "--name", "web1",
                 "--driver-info", "fake_password=hunter2", "-f", "json")
    created = json.loads(out)
    assert created["name"] == "web1" and created["driver_info"]["fake_password"] == "******"
    run("node", "power", "on", "web1")
    out, _ = run("node", "power", "status", "web1", "-f", "json")
    assert json.loads(out) == {"power_state": "power on"}
    out, _ = run("node", "show", "web1")
    assert "power on" in out and "hunter2" not in out
    out, _ = run("node", "list")
    assert "web1" in out and "| uuid" in out


def test_set_unset_validate_delete(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "n2")
    out, _ = run("node", "set", "n2", "--driver-info", "fake_address=10.1.1.1",
                 "--management-interface", "noop", "-f", "json")
    assert json.loads(out)["management_interface"] == "noop"
    out, _ = run("node", "unset", "n2", "--management-interface", "-f", "json")
    assert json.loads(out)["management_interface"] == "fake"
    out, _ = run("node", "validate", "n2", "-f", "json")
    assert json.loads(out)["power"] == {"result": True, "reason": None}
    run("node", "delete", "n2")
    _, err = run("node", "show", "n2", expect=1)
    assert "could not be found" in err


def test_boot_device(run):
    run("node", "create", "--driver", "fake-hardware", "--name", "b1")
    out, _ = run("node", "boot-device", "set", "b1", "pxe", "--persistent", "-f", "json")
    assert json.loads(out) == {"boot_device": "pxe", "persistent": True}
    out, _ = run("node", "boot-device", "show", "b1", "--supported", "-f", "json")
    assert "cdrom" in json.loads(out)["supported_boot_devices"]


def test_driver_commands(run):
    out, _ = run("driver", "list")
    assert "fake-hardware" in out
    out, _ = run("driver", "show", "fake-hardware", "-f", "json")
    assert json.loads(out)["default_power_interface"] == "fake"
    out, _ = run("driver", "properties", "fake-hardware")
    assert "fake_password" in out and "secret" in out and "optional" in out


@pytest.mark.parametrize("args,fragment", [
    (("node", "create", "--driver", "nope"), "nope is not enabled"),
    (("node", "create", "--driver", "fake-hardware", "--power-interface", "x"),
     "power_interface x"),
    (("node", "create", "--driver", "fake-hardware", "--driver-info", "novalue"),
     "KEY=VALUE"),
    (("node", "power", "on", "ghost"), "ghost could not be found"),
    (("driver", "show", "nope"), "enabled_hardware_types"),
])
def test_errors_are_one_clear_line(run, args, fragment):
    out, err = run(*args, expect=1)
    assert fragment in err
    assert "Traceback" not in err
    out, _ = run("node", "list", "-f", "json")
    assert json.loads(out) == []


def test_secret_from_stdin_stays_off_argv(run, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("topsecret\n"))
    out, _ = run("node", "create", "--driver", "fake-hardware", "--name", "s1",
                 "--driver-info", "fake_password=-", "-f", "json")
    assert json.loads(out)["driver_info"]["fake_password"] == "******"
    from hwdrivers.db import api as db_api
    assert db_api.get_node("s1")["driver_info"]["fake_password"] == "topsecret"


def test_oneshot_needs_no_database(tmp_path, capsys):
    conf = tmp_path / "c.conf"
    conf.write_text("[database]\nconnection = postgresql+psycopg://nobody@127.0.0.1:1/none\n")
    code = cli.main(["--config-file", str(conf), "power", "on", "--driver",
                     "fake-hardware", "-f", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == {"power_state": "power on"}


def test_oneshot_warns_about_inline_secret(tmp_path, capsys):
    code = cli.main(["power", "status", "--driver", "fake-hardware",
                     "--driver-info", "fake_password=abc"])
    _, err = capsys.readouterr()
    assert code == 0
    assert "visible in the process list" in err and "abc" not in err


def test_malformed_config_file_is_named(tmp_path, capsys):
    conf = tmp_path / "bad.conf"
    conf.write_text("[DEFAULT\nenabled_hardware_types = x\n")
    code = cli.main(["--config-file", str(conf), "driver", "list"])
    _, err = capsys.readouterr()
    assert code == 1 and "bad.conf" in err and "Traceback" not in err


def test_bad_option_value_is_named(tmp_path, capsys):
    conf = tmp_path / "bad.conf"
    conf.write_text("[conductor]\nlease_duration = soon\n")
    code = cli.main(["--config-file", str(conf), "power", "status", "--driver",
                     "fake-hardware"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "[conductor] lease_duration" in err and "soon" in err


def test_output_into_a_closed_pipe_is_quiet(tmp_path):
    """`hwdrivers driver list | true`: the reader is gone before the first write."""
    import os
    import subprocess
    import sys

    exe = os.path.join(os.path.dirname(sys.executable), "hwdrivers")
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path))
    env.pop("HWDRIVERS_URL", None)
    result = subprocess.run("'%s' driver list | true" % exe, shell=True,
                            capture_output=True, text=True, env=env, timeout=120)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_undeclared_driver_info_key_is_refused_with_the_fix(run):
    """ipmi_user (for ipmi_username) would log in as the anonymous user."""
    _, err = run("node", "create", "--driver", "ipmi", "--name", "u1", "--driver-info",
                 "ipmi_address=192.0.2.1", "--driver-info", "ipmi_user=admin", expect=1)
    assert "ipmi_user (did you mean ipmi_username?)" in err
    assert "valid fields: ipmi_address" in err and "ipmi_password" in err
    assert "admin" not in err  # names, never values
    out, _ = run("node", "list", "-f", "json")
    assert json.loads(out) == []
    run("node", "create", "--driver", "ipmi", "--name", "u1",
        "--driver-info", "ipmi_address=192.0.2.1")
    _, err = run("node", "set", "u1", "--driver-info", "ipmi_user=admin", expect=1)
    assert "did you mean ipmi_username?" in err
    from hwdrivers.db import api as db_api
    assert db_api.get_node("u1")["driver_info"] == {"ipmi_address": "192.0.2.1"}


def test_unknown_driver_info_warn_mode_stores_and_logs(run, tmp_path, caplog):
    """[api] unknown_driver_info = warn: nodes moved from Ironic keep their extras."""
    conf = tmp_path / "warn.conf"
    conf.write_text("[api]\nunknown_driver_info = warn\n")
    caplog.set_level("WARNING")
    code = cli.main(["--config-file", str(conf), "node", "create", "--driver", "ipmi",
                     "--name", "m1", "--driver-info", "ipmi_address=192.0.2.1",
                     "--driver-info", "deploy_kernel=http://x/k"])
    assert code == 0
    from hwdrivers.db import api as db_api
    assert db_api.get_node("m1")["driver_info"]["deploy_kernel"] == "http://x/k"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("deploy_kernel" in w and "unknown_driver_info = warn" in w for w in warnings)
    # A near-miss of a declared secret is refused even in warn mode.
    code = cli.main(["--config-file", str(conf), "node", "set", "m1", "--driver-info",
                     "ipmi_pasword=x"])
    assert code == 1
    assert "ipmi_pasword" not in db_api.get_node("m1")["driver_info"]
    # Keys stored earlier do not block an unrelated change once refused again.
    run("node", "set", "m1", "--name", "m2")


def test_driver_name_typo_suggests_the_hardware_type(run):
    _, err = run("node", "create", "--driver", "ipmitool", expect=1)
    assert "did you mean ipmi?" in err
    _, err = run("node", "create", "--driver", "redfsh", expect=1)
    assert "Did you mean redfish?" in err
    _, err = run("node", "create", "--driver", "ipmi", "--power-interface", "ipmitol",
                 expect=1)
    assert "did you mean ipmitool?" in err


def test_bulk_progress_is_a_bar_on_a_terminal_and_lines_otherwise():
    import io

    from hwdrivers.cli import bulk
    from hwdrivers.common import exception

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    def act(ident):
        if ident == "bad":
            raise exception.NodeNotFound(node=ident)
        return {"power_state": "power on"}

    tty = Terminal()
    results = bulk.run(["a", "bad", "c"], act, "power on", stream=tty)
    assert [r["error"] is None for r in results] == [True, False, True]
    assert "3/3" in tty.getvalue() and "[1/3]" not in tty.getvalue()
    plain = io.StringIO()
    bulk.run(["a", "bad", "c"], act, "power on", stream=plain)
    lines = sorted(plain.getvalue().splitlines())
    assert len(lines) == 3 and any("bad: Node bad could not be found" in x for x in lines)


def test_node_power_failure_shows_retries_only_with_verbose(database, tmp_path, capsys,
                                                            closed_tcp_port, caplog):
    """A BMC that refuses: the final error, and the retries only with -v."""
    conf = tmp_path / "fast.conf"
    conf.write_text("[redfish]\ncommand_retry_timeout = 1.0\n")
    base = ["--config-file", str(conf)]
    assert cli.main(base + ["node", "create", "--driver", "redfish", "--name", "rv",
                            "--driver-info", "redfish_address=http://127.0.0.1:%d"
                            % closed_tcp_port.port, "--driver-info",
                            "redfish_system_id=/redfish/v1/Systems/1"]) == 0
    capsys.readouterr()
    caplog.clear()
    assert cli.main(base + ["node", "power", "on", "rv"]) == 1
    err = capsys.readouterr().err
    assert "ERROR: node rv, controller redfish:127.0.0.1:%d" % closed_tcp_port.port in err
    assert "Traceback" not in err
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    assert cli.main(base + ["node", "power", "on", "rv", "-v"]) == 1
    assert [r for r in caplog.records if "retrying" in r.getMessage()]


def test_bulk_selection(run, tmp_path):
    from hwdrivers.cli import bulk
    from hwdrivers.cli import local

    for name, driver in (("r1-a", "fake-hardware"), ("r1-b", "fake-hardware"),
                         ("r2-a", "fake-hardware")):
        run("node", "create", "--driver", driver, "--name", name)
    backend = local.LocalBackend()
    assert bulk.select(backend, name_glob="r1-*") == ["r1-a", "r1-b"]
    assert bulk.select(backend, all_nodes=True, driver="fake-hardware") == [
        "r1-a", "r1-b", "r2-a"]
    listing = tmp_path / "nodes.txt"
    listing.write_text("r2-a  # spare\n\nghost\nr1-a\nr2-a\n")
    assert bulk.select(backend, path=str(listing)) == ["r2-a", "ghost", "r1-a"]
    assert bulk.select(backend, path=str(listing), name_glob="r1-*") == ["ghost", "r1-a"]
    with pytest.raises(exception.InvalidParameterValue, match="no node matches"):
        bulk.select(backend, all_nodes=True, driver="ipmi")
    listing.write_text("# nothing\n")
    with pytest.raises(exception.InvalidParameterValue, match="names no node"):
        bulk.select(backend, path=str(listing))


def test_bulk_power_goes_through_the_controller_queues(database, tmp_path, capsys):
    """Six outlets of one simulated PDU, --parallel 6: still one command at a time."""
    from hwdrivers.conductor import controllers

    conf = tmp_path / "pdu.conf"
    conf.write_text("[fake]\nmax_concurrency = 1\npower_delay = 0.05\n")
    base = ["--config-file", str(conf)]
    for index in range(6):
        assert cli.main(base + ["node", "create", "--driver", "fake-hardware", "--name",
                                "pdu1-%d" % index, "--driver-info",
                                "fake_controller=pdu1"]) == 0
    capsys.readouterr()
    assert cli.main(base + ["node", "power", "on", "--name-glob", "pdu1-*",
                            "--parallel", "6", "-f", "json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["result"] for r in results] == ["power on"] * 6
    assert controllers.LIMITER.peak("fake:pdu1") == 1


def test_oneshot_refuses_undeclared_driver_info(tmp_path, capsys):
    code = cli.main(["power", "status", "--driver", "ipmi", "--driver-info",
                     "ipmi_address=192.0.2.1", "--driver-info", "ipmi_user=admin"])
    assert code == 1
    assert "ipmi_user (did you mean ipmi_username?)" in capsys.readouterr().err


@pytest.mark.parametrize("text, words", [
    ('{"meta_data": {"cores": NaN}}', ["--config-drive", "meta_data.cores", "NaN",
                                       "finite number"]),
    ('{"user_data": "\\ud800"}', ["--config-drive", "user_data", "surrogate"]),
    ('{"meta_data": ', ["--config-drive", "not valid JSON"]),
])
def test_config_drive_json_is_standard_json(text, words):
    from hwdrivers.cli import deploy
    with pytest.raises(SystemExit) as caught:
        deploy.parse_config_drive(text)
    assert all(word in str(caught.value) for word in words), caught.value


def test_json_output_of_an_old_row_is_standard_json():
    """A row stored before NaN and lone surrogates were refused still prints as JSON."""
    import io

    from hwdrivers.cli import output
    stream = io.StringIO()
    output.emit({"properties": {"cpus": float("nan"), "note": "a\ud800b"}}, "json",
                stream=stream)
    text = stream.getvalue()
    assert "NaN" not in text and "\\ud800" not in text
    assert json.loads(text) == {"properties": {"cpus": None, "note": "a\ufffdb"}}


def test_a_bad_property_pair_names_the_option(tmp_path, capsys):
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n[database]\nconnection = sqlite:///%s\n"
                    % (tmp_path, tmp_path / "db.sqlite"))
    code = cli.main(["--config-file", str(conf), "node", "create", "--driver",
                     "fake-hardware", "--property", "novalue"])
    _, err = capsys.readouterr()
    assert code == 1 and "--property 'novalue' must look like KEY=VALUE" in err, err


@pytest.mark.parametrize("argv", [
    ["node", "create", "--driver", "fake-hardware", "--name", ""],
    ["node", "set", "keep", "--name", ""],
    ["node", "set", "keep", "--driver", ""],
    ["node", "set", "keep", "--power-interface", ""],
])
def test_an_empty_name_or_driver_is_refused_not_ignored(run, argv):
    run("node", "create", "--driver", "fake-hardware", "--name", "keep")
    _, err = run(*argv, expect=1)
    assert "ERROR:" in err and ("name" in err or "driver" in err or "interface" in err), err
    nodes = json.loads(run("node", "list", "-f", "json")[0])
    assert [(n["name"], n["driver"]) for n in nodes] == [("keep", "fake-hardware")]


def test_the_usage_line_names_every_command_group():
    """It was written by hand and had left out 'conductor'."""
    parser = commands.build_parser()
    groups = [action for action in parser._actions
              if isinstance(action, argparse._SubParsersAction)][0].choices
    usage = parser.format_usage()
    assert "{%s}" % ",".join(groups) in usage
    assert "conductor" in groups
