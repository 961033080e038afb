"""The one-shot CLI, run as a process: ``hwdrivers power|boot-device --driver ...``.

No database and no service: each run composes the driver from the
command line and acts. fake-hardware keeps state on its in-memory node,
so state across runs is checked with the external driver, whose example
executable keeps it in a file. Secrets go through stdin (``KEY=-``) or
a file, and never reach any process's argv.
"""

import json
import os
import subprocess
import sys

import pytest

HWDRIVERS = os.path.join(os.path.dirname(sys.executable), "hwdrivers")


@pytest.fixture
def cli(tmp_path, external_drivers):
    """Runs ``hwdrivers`` with a config enabling fake-hardware and external."""
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text(
        "[DEFAULT]\n"
        "enabled_hardware_types = fake-hardware,external\n"
        "enabled_power_interfaces = fake,external\n"
        "enabled_management_interfaces = fake,noop,external\n"
        "[external]\n"
        "driver_paths = %s\n"
        "timeout = 5\n"
        "command_retry_timeout = 0\n" % external_drivers.dir)
    env = dict(os.environ, HOME=str(tmp_path), HWDRIVERS_STATE_PATH=str(tmp_path / "state"))

    def run(*args, stdin=None):
        return subprocess.run([HWDRIVERS, "--config-file", str(conf), *args], input=stdin,
                              capture_output=True, text=True, timeout=60, env=env)
    return run


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- fake-hardware ------------------------------------------------------------------

@pytest.mark.parametrize("action, state", [
    ("on", "power on"), ("off", "power off"), ("reboot", "power on"),
    ("status", "power off")])
def test_fake_power(cli, action, state):
    proc = cli("-f", "json", "power", action, "--driver", "fake-hardware",
               "--driver-info", "fake_address=10.0.0.1")
    assert ok(proc) == {"power_state": state}
    assert proc.stderr == ""


def test_fake_boot_device(cli):
    assert ok(cli("-f", "json", "boot-device", "set", "pxe", "--persistent",
                  "--driver", "fake-hardware")) == {"boot_device": "pxe", "persistent": True}
    assert ok(cli("-f", "json", "boot-device", "show", "--driver", "fake-hardware")) == {
        "boot_device": None, "persistent": None}
    proc = cli("boot-device", "set", "--driver", "fake-hardware")
    assert proc.returncode != 0 and "needs a DEVICE" in proc.stderr


def test_table_output(cli):
    proc = cli("power", "on", "--driver", "fake-hardware")
    assert proc.returncode == 0
    assert "power_state" in proc.stdout and "power on" in proc.stdout


def test_secret_from_stdin_is_not_warned_about(cli):
    proc = cli("power", "on", "--driver", "fake-hardware", "--driver-info",
               "fake_password=-", stdin="Pa55-from-stdin\n")
    assert proc.returncode == 0 and "WARNING" not in proc.stderr
    proc = cli("power", "on", "--driver", "fake-hardware", "--driver-info",
               "fake_password=inline-secret")
    assert proc.returncode == 0
    assert "fake_password given on the command line" in proc.stderr
    assert "inline-secret" not in proc.stderr + proc.stdout


def test_invalid_driver_info_is_one_clear_line(cli):
    proc = cli("power", "on", "--driver", "fake-hardware", "--driver-info",
               "fake_address=not an address", "--driver-info", "fake_password=-",
               stdin="Hidden-Secret\n")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ERROR: ") and "Traceback" not in proc.stderr
    assert "fake_address" in proc.stderr and "--driver-info <field>=<value>" in proc.stderr
    assert "hwdrivers node set" not in proc.stderr
    assert "Hidden-Secret" not in proc.stderr


def test_unknown_driver(cli):
    proc = cli("power", "on", "--driver", "ipmi-nope")
    assert proc.returncode == 1 and "enabled_hardware_types" in proc.stderr


# -- external ------------------------------------------------------------------------

def _py_args(external_drivers, machine="m1"):
    return ["--driver", "external", "--driver-info", "external_driver=pydriver",
            "--driver-info", "power_address=127.0.0.1", "--driver-info",
            "machine=%s" % machine, "--driver-info", "power_pass=-"]


def test_external_power_state_persists_across_runs(cli, external_drivers):
    pw = external_drivers.password + "\n"
    args = _py_args(external_drivers)
    assert ok(cli("-f", "json", "power", "status", *args, stdin=pw)) == {
        "power_state": "power off"}
    assert ok(cli("-f", "json", "power", "on", *args, stdin=pw)) == {
        "power_state": "power on"}
    assert external_drivers.machines()["m1"]["power"] == "on"
    assert ok(cli("-f", "json", "power", "status", *args, stdin=pw)) == {
        "power_state": "power on"}
    assert ok(cli("-f", "json", "power", "reboot", *args, stdin=pw)) == {
        "power_state": "power on"}
    assert ok(cli("-f", "json", "power", "off", *args, stdin=pw)) == {
        "power_state": "power off"}
    for call in external_drivers.calls():
        assert external_drivers.password not in json.dumps(call["argv"])
        assert external_drivers.password in call["stdin"]


def test_external_boot_device(cli, external_drivers):
    pw = external_drivers.password + "\n"
    args = _py_args(external_drivers)
    assert ok(cli("-f", "json", "boot-device", "set", "disk", *args, stdin=pw)) == {
        "boot_device": "disk", "persistent": False}
    assert external_drivers.machines()["m1"]["boot"][0]["deviceType"] == "StorageDevice"
    assert ok(cli("-f", "json", "boot-device", "show", *args, stdin=pw)) == {
        "boot_device": None, "persistent": None}
    proc = cli("boot-device", "set", "cdrom", *args, stdin=pw)
    assert proc.returncode == 1 and "pxe, disk" in proc.stderr


def test_external_driver_info_file(cli, external_drivers, tmp_path):
    info = tmp_path / "node.json"
    info.write_text(json.dumps(external_drivers.py_info("m7")))
    assert ok(cli("-f", "json", "power", "on", "--driver", "external",
                  "--driver-info-file", str(info))) == {"power_state": "power on"}
    assert external_drivers.machines()["m7"]["power"] == "on"


def test_external_errors_are_clear(cli, external_drivers):
    proc = cli("power", "status", "--driver", "external", "--driver-info",
               "external_driver=garbage", "--driver-info", "power_address=10.0.0.1")
    # The error quotes the driver's stdout, "Traceback: something broke": not ours.
    assert proc.returncode == 1 and "Traceback (most recent" not in proc.stderr
    assert "garbage" in proc.stderr and "not JSON" in proc.stderr
    proc = cli("power", "on", *_py_args(external_drivers, "fail-authError"),
               stdin=external_drivers.password + "\n")
    assert proc.returncode == 1 and "authError" in proc.stderr
    assert external_drivers.password not in proc.stderr
    proc = cli("power", "on", "--driver", "external", "--driver-info",
               "external_driver=pydriver")
    assert proc.returncode == 1
    assert "power_pass" in proc.stderr and "machine" in proc.stderr
