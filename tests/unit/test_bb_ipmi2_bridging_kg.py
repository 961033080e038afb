"""Ironic's bridging and Kg key fields reach ipmitool; the key never its argv.

A node moved from Ironic with ``ipmi_bridging=single`` (a blade behind a
chassis manager) and stored with ``[api] unknown_driver_info = warn`` had its
bridging fields ignored: ``power off`` went to the chassis manager at
ipmi_address itself. ``ipmi_hex_kg_key`` was ignored too, so a BMC with a
Kg key refused every login. Ironic passes both to ipmitool (the key as ``-y
<hex>``, on the command line); here the key goes through IPMI_KGKEY and -K.

The "ipmitool" is a script that records its argv and environment and
answers like ipmitool, so the whole run (subprocess and its environment,
bytes included) is checked without a BMC.
"""

import json
import os
import stat
import sys

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a0b0c0ff"  # 20 bytes, not UTF-8
RECORDER = """#!%s
import json, os, sys
with open(%r, "w") as f:
    json.dump({"argv": sys.argv[1:], "kg": os.environb.get(b"IPMI_KGKEY", b"").hex(),
               "password": os.environ.get("IPMI_PASSWORD")}, f)
print("Chassis Power is on")
"""


@pytest.fixture
def recorded(config, tmp_path):
    """Path of the JSON the fake ipmitool writes on each run."""
    record = tmp_path / "run.json"
    tool = tmp_path / "ipmitool"
    tool.write_text(RECORDER % (sys.executable, str(record)))
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    config(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
           enabled_management_interfaces=["ipmitool"], ipmi__ipmitool_path=str(tool),
           ipmi__command_retry_timeout=0.0)
    return record


def make_task(**info):
    return StandaloneTask.for_driver("ipmi", name="blade7", driver_info=dict(
        {"ipmi_address": "192.0.2.10", "ipmi_username": "admin",
         "ipmi_password": "pw-123456"}, **info))


def power_status(record, **info):
    assert actions.get_power_state(make_task(**info)).value == "power on"
    return json.loads(record.read_text())


def option(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv else None


def test_single_bridge_reaches_ipmitool(recorded):
    run = power_status(recorded, ipmi_bridging="single", ipmi_target_channel="7",
                       ipmi_target_address="0x72", ipmi_local_address="0x20")
    argv = run["argv"]
    assert (option(argv, "-b"), option(argv, "-t"), option(argv, "-m")) == (
        "7", "114", "32")
    assert "-B" not in argv and "-T" not in argv
    assert argv[-2:] == ["power", "status"]


def test_dual_bridge_reaches_ipmitool(recorded):
    run = power_status(recorded, ipmi_bridging="dual", ipmi_target_channel=0,
                       ipmi_target_address="0x72", ipmi_transit_channel="0x6",
                       ipmi_transit_address="130")
    argv = run["argv"]
    assert [option(argv, f) for f in ("-b", "-t", "-B", "-T")] == ["0", "114", "6", "130"]
    assert "-m" not in argv


def test_kg_key_goes_by_environment_never_argv(recorded):
    run = power_status(recorded, ipmi_hex_kg_key=KEY.upper())
    assert "-K" in run["argv"] and "-y" not in run["argv"]
    assert KEY not in json.dumps(run["argv"]).lower()
    assert run["kg"] == KEY  # every byte, though they are not UTF-8
    assert run["password"] == "pw-123456"


def test_kg_key_trailing_zero_bytes_are_ipmitools_padding(recorded):
    run = power_status(recorded, ipmi_hex_kg_key="414243" + "00" * 17)
    assert run["kg"] == "414243"


def test_local_address_alone_is_ignored_as_in_ironic(recorded):
    run = power_status(recorded, ipmi_local_address="0x20")
    assert "-m" not in run["argv"]


def test_inherited_kg_key_is_not_used(recorded, monkeypatch):
    monkeypatch.setenv("IPMI_KGKEY", "stray")
    run = power_status(recorded)
    assert "-K" not in run["argv"] and run["kg"] == ""


@pytest.mark.parametrize("info, words", [
    ({"ipmi_bridging": "single", "ipmi_target_channel": "7"}, "ipmi_target_address"),
    ({"ipmi_bridging": "dual", "ipmi_target_channel": "7", "ipmi_target_address": "0x72"},
     "ipmi_transit_channel"),
    ({"ipmi_target_address": "0x72", "ipmi_target_channel": "7"},
     "ipmi_target_channel, ipmi_target_address only apply to bridged requests, but "
     "ipmi_bridging is no: set ipmi_bridging=single or dual"),
    ({"ipmi_bridging": "single", "ipmi_target_channel": "7", "ipmi_target_address": "2",
      "ipmi_transit_address": "3"}, "set ipmi_bridging=dual"),
    ({"ipmi_bridging": "triple"}, "ipmi_bridging (got 'triple') must be one of: no, single"),
    ({"ipmi_bridging": "single", "ipmi_target_channel": "16",
      "ipmi_target_address": "0x72"}, "ipmi_target_channel must be from 0 to 15"),
    ({"ipmi_bridging": "single", "ipmi_target_channel": "7",
      "ipmi_target_address": "0x1ff"}, "ipmi_target_address must be from 0 to 255"),
    ({"ipmi_bridging": "single", "ipmi_target_channel": "07",
      "ipmi_target_address": "0x72"},
     "ipmi_target_channel must be a number: decimal without leading zeros"),
    ({"ipmi_hex_kg_key": "abc"}, "ipmi_hex_kg_key must be an even number of hex digits"),
    ({"ipmi_hex_kg_key": "zz"}, "ipmi_hex_kg_key must be an even number of hex digits"),
    ({"ipmi_hex_kg_key": "11" * 21}, "ipmi_hex_kg_key must be at most 20 bytes"),
    ({"ipmi_hex_kg_key": "110022"}, "ipmi_hex_kg_key holds a zero byte"),
    ({"ipmi_hex_kg_key": "1122", "ipmi_protocol_version": "1.5"},
     "ipmi_hex_kg_key only applies to IPMI 2.0"),
])
def test_bad_fields_are_refused_naming_field_and_fix(recorded, info, words):
    with pytest.raises(exception.InvalidParameterValue) as caught:
        actions.get_power_state(make_task(**info))
    message = str(caught.value)
    assert words in message, message
    assert not os.path.exists(recorded), "ipmitool ran for a refused driver_info"
    assert "1122" not in message and "110022" not in message  # the key is a secret


def test_kg_key_is_secret_in_listings():
    task = make_task(ipmi_hex_kg_key=KEY)
    assert task.driver.schema_for(task.node.driver_info).mask(
        task.node.driver_info)["ipmi_hex_kg_key"] == "******"


def test_console_gets_the_key_and_bridge_the_same_way(recorded):
    from hwdrivers.drivers.modules import console_ipmitool

    task = make_task(ipmi_hex_kg_key=KEY, ipmi_bridging="single", ipmi_target_channel="7",
                     ipmi_target_address="0x72")
    command = console_ipmitool.IPMIToolSocatConsole().console_command(task)
    for argv in (command.argv, *command.before):
        assert "-K" in argv and KEY not in " ".join(argv).lower()
        assert (option(argv, "-b"), option(argv, "-t")) == ("7", "114")
    assert os.fsencode(command.env["IPMI_KGKEY"]) == bytes.fromhex(KEY)
    assert KEY in command.secrets
