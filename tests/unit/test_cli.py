"""The ``hwdrivers`` command on the local database, and one-shot mode."""

import json

import pytest

from hwdrivers.cmd import cli


@pytest.fixture
def run(database, tmp_path, capsys):
    conf = tmp_path / "empty.conf"
    conf.write_text("")

    def run(*args, expect=0):
        code = cli.main(["--config-file", str(conf)] + list(args))
        out, err = capsys.readouterr()
        assert code == expect, "exit %s: %s %s" % (code, out, err)
        return out, err
    return run


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
