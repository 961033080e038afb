"""Error paths of the ipmitool driver, with scripted ``ipmitool`` stand-ins.

The functional tests (tests/functional/test_ipmi.py) run the real ipmitool
against fake BMCs; here small shell scripts play an ipmitool that hangs,
answers garbage or fails in ways a fake BMC cannot easily provoke, and the
parsers meet real ipmitool 1.8.19 output.
"""

import os
import stat
import time

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import ipmitool
from hwdrivers.drivers.task import StandaloneTask

PASSWORD = "Unit-Pa55word"
INFO = {"ipmi_address": "192.0.2.10", "ipmi_username": "admin", "ipmi_password": PASSWORD}


@pytest.fixture(autouse=True)
def ipmi_config(config):
    config(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
           enabled_management_interfaces=["ipmitool"], ipmi__command_retry_timeout=0.0)
    return config


@pytest.fixture
def fake_tool(tmp_path, ipmi_config):
    """``fake_tool(body)``: make ``[ipmi] ipmitool_path`` a shell script running ``body``."""
    def make(body):
        path = tmp_path / "ipmitool"
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        ipmi_config(ipmi__ipmitool_path=str(path))
        return path
    return make


def make_task(**overrides):
    info = dict(INFO, **overrides)
    return StandaloneTask.for_driver("ipmi", driver_info={k: v for k, v in info.items()
                                                          if v is not None}, name="u1")


def task_info(task):
    return ipmitool.parse(task)


# -- driver_info ------------------------------------------------------------------------

def test_every_bad_field_is_reported_at_once():
    task = StandaloneTask.for_driver("ipmi", driver_info={
        "ipmi_port": "seventy", "ipmi_priv_level": "ROOT", "ipmi_password": "x y z",
        "ipmi_protocol_version": "3.0"}, name="u1")
    with pytest.raises(exception.InvalidParameterValue) as info:
        task.driver.power.validate(task)
    message = str(info.value)
    for field in ("ipmi_address", "ipmi_port", "ipmi_priv_level", "ipmi_protocol_version"):
        assert field in message
    assert "ADMINISTRATOR, OPERATOR, USER, CALLBACK" in message
    assert "--driver-info" in message


def test_missing_address_is_a_missing_parameter():
    task = StandaloneTask.for_driver("ipmi", driver_info={"ipmi_username": "a"}, name="u1")
    with pytest.raises(exception.MissingParameterValue, match="ipmi_address"):
        task.driver.management.validate(task)


def test_cipher_suite_needs_ipmi_2():
    task = make_task(ipmi_protocol_version="1.5", ipmi_cipher_suite=3)
    with pytest.raises(exception.InvalidParameterValue,
                       match="ipmi_cipher_suite only applies to IPMI 2.0"):
        task.driver.power.validate(task)


def test_cipher_suite_zero_is_refused():
    """Cipher zero: the BMC takes any password and nothing is signed or encrypted."""
    with pytest.raises(exception.InvalidParameterValue,
                       match="ipmi_cipher_suite: 0 authenticates nothing") as info:
        task = make_task(ipmi_cipher_suite=0)
        task.driver.power.validate(task)
    assert "e.g. 3 or 17" in str(info.value)
    task = make_task(ipmi_cipher_suite=1)  # authenticated (SHA1), not encrypted
    task.driver.power.validate(task)


@pytest.mark.parametrize("version, length, ok", [
    ("2.0", 20, True), ("2.0", 21, False), ("1.5", 16, True), ("1.5", 17, False)])
def test_password_length_limit(version, length, ok):
    secret = "P" * length
    task = make_task(ipmi_password=secret, ipmi_protocol_version=version)
    if ok:
        task.driver.power.validate(task)
        return
    with pytest.raises(exception.InvalidParameterValue) as info:
        task.driver.power.validate(task)
    assert "ipmi_password is longer than the %d bytes" % (20 if version == "2.0" else 16) in (
        str(info.value))
    assert secret not in str(info.value)


def test_defaults_and_properties():
    info = task_info(make_task())
    assert info["ipmi_port"] == 623 and info["ipmi_priv_level"] == "ADMINISTRATOR"
    assert info["ipmi_protocol_version"] == "2.0" and info["boot_mode"] == "bios"
    props = make_task().driver.power.get_properties()
    assert "Secret" in props["ipmi_password"] and "Required" in props["ipmi_address"]


def test_controller_key_brackets_ipv6_and_survives_bad_input():
    power = make_task().driver.power
    assert power.controller_key(make_task(ipmi_address="2001:db8::5", ipmi_port=6230)) == (
        "ipmi:[2001:db8::5]:6230")
    assert power.controller_key(make_task(ipmi_address="bmc 1", ipmi_port="x")) == (
        "ipmi:bmc 1:x")


# -- command line and environment --------------------------------------------------------

def test_argv_never_holds_the_password():
    argv = ipmitool.build_argv(task_info(make_task()), ["power", "status"])
    assert PASSWORD not in " ".join(argv)
    assert argv[:3] == ["ipmitool", "-I", "lanplus"] and "-E" in argv and "-v" in argv
    assert argv[-2:] == ["power", "status"] and "-C" not in argv


def test_argv_options():
    argv = ipmitool.build_argv(task_info(make_task(
        ipmi_protocol_version="1.5", ipmi_username=None, ipmi_password=None,
        ipmi_priv_level="operator")), ["power", "on"])
    assert argv[2] == "lan" and "-U" not in argv and "-E" not in argv
    assert argv[argv.index("-L") + 1] == "OPERATOR"
    argv = ipmitool.build_argv(task_info(make_task(ipmi_cipher_suite=17)), [])
    assert argv[argv.index("-C") + 1] == "17"


def test_env_carries_only_our_password(monkeypatch):
    monkeypatch.setenv("IPMITOOL_PASSWORD", "inherited")
    monkeypatch.setenv("IPMI_PASSWORD", "inherited")
    env = ipmitool.build_env(task_info(make_task()))
    assert env["IPMI_PASSWORD"] == PASSWORD and "IPMITOOL_PASSWORD" not in env
    assert env["LC_ALL"] == "C"
    assert "IPMI_PASSWORD" not in ipmitool.build_env(task_info(make_task(ipmi_password=None)))


# -- ipmitool's words -> the taxonomy ---------------------------------------------------------

@pytest.mark.parametrize("stderr, cls, hint", [
    ("Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish "
     "IPMI v2 / RMCP+ session", exception.DriverAuthError, "check ipmi_password"),
    ("RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish "
     "IPMI v2 / RMCP+ session", exception.DriverAuthError, "check ipmi_username"),
    ("Set Session Privilege Level to ADMINISTRATOR failed: Unknown (0x81)",
     exception.DriverAuthError, "lower ipmi_priv_level"),
    ("Set Chassis Power Control to Up/On failed: Insufficient privilege level",
     exception.DriverAuthError, "set ipmi_priv_level to OPERATOR"),
    ("Get Session Challenge command failed: Invalid user name",
     exception.DriverAuthError, "check ipmi_username"),
    ("lanplus: password is longer than 20 bytes.", exception.DriverSettingsError,
     "check ipmi_password"),
    ("Unsupported cipher suite ID : 99\nError: Unable to establish IPMI v2 / RMCP+ session",
     exception.DriverSettingsError, "check ipmi_cipher_suite"),
    ("Authentication algorithm 0x01 is not what we requested 0x03\nError: Unable to "
     "establish IPMI v2 / RMCP+ session", exception.DriverSettingsError,
     "does not offer cipher suite"),
    ("Get Auth Capabilities error\nError issuing Get Channel Authentication Capabilities "
     "request\nError: Unable to establish IPMI v2 / RMCP+ session",
     exception.DriverConnectionError, "check ipmi_address and ipmi_port"),
    ("Address lookup for bmc.invalid failed\nCould not open socket!",
     exception.DriverConnectionError, "cannot resolve ipmi_address"),
    ("Error: Unable to establish IPMI v2 / RMCP+ session",
     exception.DriverConnectionError, "no IPMI session"),
    ("Set Chassis Power Control to Cycle failed: Command not supported in present state",
     exception.DriverActionError, None),
    ("Unable to get Chassis Power Status", exception.DriverActionError, None),
])
def test_classify(stderr, cls, hint):
    found, text = ipmitool.classify(stderr, task_info(make_task(ipmi_cipher_suite=3)))
    assert found is cls
    assert (hint is None and text is None) or hint in text


def test_reason_text_drops_verbose_noise():
    stderr = ("Loading IANA PEN Registry...\nUsing best available cipher suite 3\n\n"
              "Running Get VSO Capabilities my_addr 0x20, transit 0, target 0x20\n"
              "Invalid completion code received: Invalid command\n"
              "Discovered IPMB address 0x0\nSet Chassis Power Control to Up/On failed: "
              "Insufficient privilege level\n")
    assert ipmitool.reason_text(stderr) == (
        "Set Chassis Power Control to Up/On failed: Insufficient privilege level")


# -- parsers -------------------------------------------------------------------------

BOOTPARAM = ("Boot parameter version: 1\nBoot parameter 5 is valid/unlocked\n"
             "Boot parameter data: %s\n Boot Flags :\n   - Boot Flag Valid\n")


@pytest.mark.parametrize("data, expected", [
    ("e004000000", ("pxe", True)),       # valid, persistent, EFI; PXE
    ("8008000000", ("disk", False)),
    ("c00c000000", ("safe", True)),
    ("8014000000", ("cdrom", False)),
    ("8018000000", ("bios", False)),
    ("803c000000", ("floppy", False)),
    ("8000000000", (None, False)),       # valid but "no override"
    ("4004000000", (None, None)),        # valid bit clear: the BMC has no override
    ("0000000000", (None, None)),
])
def test_parse_boot_flags(data, expected):
    result = ipmitool.parse_boot_flags(BOOTPARAM % data)
    assert (result["boot_device"], result["persistent"]) == expected


def test_parse_boot_flags_without_data():
    with pytest.raises(ValueError):
        ipmitool.parse_boot_flags("Boot parameter version: 1\n")


def test_parse_sdr_groups_by_type_and_skips_records_without_one():
    out = ("Sensor ID              : CPU Temp (0x1)\n"
           " Sensor Type (Threshold)  : Temperature (0x01)\n"
           " Sensor Reading        : 45 (+/- 0) degrees C\n"
           " Status                : ok\n\n"
           "Sensor ID              : PS1 Status (0x2)\n"
           " Sensor Type (Discrete): Power Supply (0x08)\n"
           " States Asserted       : Presence detected\n\n"
           "Device ID              : Baseboard FRU (0x0)\n"
           " Entity ID             : 7.1 (System Board)\n")
    sensors = ipmitool.parse_sdr(out)
    assert set(sensors) == {"Temperature", "Power Supply"}
    assert sensors["Temperature"]["CPU Temp (0x1)"]["Sensor Reading"].startswith("45 ")
    assert sensors["Power Supply"]["PS1 Status (0x2)"]["States Asserted"] == (
        "Presence detected")


# -- scripted ipmitool -------------------------------------------------------------------

def test_hanging_ipmitool_is_killed_with_its_children(fake_tool, ipmi_config, tmp_path):
    pidfile = tmp_path / "child.pid"
    fake_tool("sleep 60 &\necho $! > %s\nwait" % pidfile)
    # The least command_timeout above ipmitool's own 2 s wait (-N 1 -R 1).
    ipmi_config(ipmi__command_timeout=2.5)
    task = make_task()
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as info:
        task.driver.power.get_power_state(task)
    assert time.monotonic() - started < 4.5
    assert "did not finish within 2.5s and was killed" in str(info.value)
    assert "[ipmi] command_timeout" in str(info.value)
    child = int(pidfile.read_text())
    for _ in range(50):  # the grandchild went with its process group
        if not os.path.exists("/proc/%d" % child) or "Z" in _proc_state(child):
            break
        time.sleep(0.02)
    else:
        pytest.fail("ipmitool's child %d survived the kill" % child)


def _proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_garbage_answer_is_an_action_error_retried_to_the_deadline(fake_tool, ipmi_config):
    fake_tool("echo 'Chassis Power is sideways'")
    ipmi_config(ipmi__command_retry_timeout=0.5)
    task = make_task()
    started = time.monotonic()
    with pytest.raises(exception.DriverActionError) as info:
        retry.run(task, task.driver.power, task.driver.power.get_power_state)
    # Retried up to the deadline: the last attempt starts just before it.
    assert 0.4 <= time.monotonic() - started < 2.0
    message = str(info.value)
    assert "unexpected answer 'Chassis Power is sideways'" in message
    assert "attempts)" in message and "controller ipmi:192.0.2.10:623" in message


def test_garbage_boot_parameter_is_an_action_error(fake_tool):
    fake_tool("echo 'Boot parameter version: 1'")
    task = make_task()
    with pytest.raises(exception.DriverActionError, match="no boot parameter data"):
        task.driver.management.get_boot_device(task)


def test_refused_boot_flags_fail_although_ipmitool_exits_0(fake_tool):
    fake_tool("echo 'Set Chassis Boot Parameter 5 failed: Unspecified error' >&2\nexit 0")
    task = make_task()
    with pytest.raises(exception.DriverActionError, match="setting boot device pxe"):
        task.driver.management.set_boot_device(task, "pxe")


def test_refused_boot_flag_timeout_only_warns(fake_tool, tmp_path, caplog):
    calls = tmp_path / "calls"
    fake_tool('echo "$*" >> %s\n'
              'case "$*" in\n'
              '  *" raw "*) echo "Unable to send RAW command (channel=0x0 netfn=0x0 lun=0x0 '
              'cmd=0x8 rsp=0x80): Unknown (0x80)" >&2; exit 1;;\n'
              '  *) echo "Set Boot Device to pxe";;\n'
              'esac' % calls)
    task = make_task()
    task.driver.management.set_boot_device(task, "pxe", persistent=True)
    lines = [line.split(" -E ")[1] for line in calls.read_text().splitlines()]
    assert lines == ["raw 0x00 0x08 0x03 0x08", "chassis bootdev pxe options=persistent"]
    assert "ipmi_disable_boot_timeout=false" in caplog.text


def test_unknown_failure_is_an_action_error_with_the_password_masked(fake_tool):
    fake_tool('echo "BMC says: bad thing with $IPMI_PASSWORD" >&2\nexit 1')
    task = make_task()
    with pytest.raises(exception.DriverActionError) as info:
        task.driver.power.set_power_state(task, PowerState.ON)
    message = str(info.value)
    assert "power on failed on BMC 192.0.2.10:623: BMC says: bad thing with ******" in message
    assert PASSWORD not in message


@pytest.mark.parametrize("password", ["BMC", "on", "a", "session"])
def test_a_password_that_is_a_word_of_the_message_is_not_shown_by_masking(
        fake_tool, password):
    """Only ipmitool's words are masked, and a short password only as a whole word:
    masking "BMC" in "failed on BMC ..." would tell the reader the password."""
    fake_tool('echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2\nexit 1')
    task = make_task(ipmi_password=password)
    with pytest.raises(exception.HWDriversError) as info:
        task.driver.power.set_power_state(task, PowerState.ON)
    message = str(info.value)
    assert message.startswith("power on failed on BMC 192.0.2.10:623: Error: Unable to "
                              "establish IPMI v2 / RMCP+ ")
    expected_tail = "******" if password == "session" else "session"
    assert "RMCP+ %s" % expected_tail in message, message


def test_a_password_glued_to_an_option_in_the_tools_words_is_masked(fake_tool):
    fake_tool('echo "usage error near -P$IPMI_PASSWORD" >&2\nexit 1')
    task = make_task()
    with pytest.raises(exception.HWDriversError) as info:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "near -P******" in str(info.value) and PASSWORD not in str(info.value)


def test_reboot_powers_on_when_the_machine_went_off_in_between(fake_tool, tmp_path):
    """Status read on, then the machine went off: the BMC refuses the cycle
    ("not supported in present state"), so the reboot falls back to off
    (already), wait until the BMC reads off, and on."""
    calls, state = tmp_path / "calls", tmp_path / "state"
    state.write_text("on")
    fake_tool('echo "$*" >> %s\n'
              'case "$*" in\n'
              '  *"power status") echo "Chassis Power is $(cat %s)";;\n'
              '  *"power cycle") echo off > %s; echo "Set Chassis Power Control to Cycle '
              'failed: Command not supported in present state" >&2; exit 1;;\n'
              '  *"power off") echo off > %s; echo "Chassis Power Control: Down/Off";;\n'
              '  *"power on") echo on > %s; echo "Chassis Power Control: Up/On";;\n'
              'esac' % (calls, state, state, state, state))
    task = make_task()
    task.driver.power.reboot(task)
    lines = calls.read_text().splitlines()
    assert [line.split(" -E ")[1] for line in lines] == [
        "power status", "power cycle", "power off", "power status", "power on"]
    assert state.read_text().strip() == "on"


@pytest.mark.parametrize("status, fails", [("off", False), ("on", True)])
def test_soft_off_refused_in_present_state(fake_tool, status, fails):
    """Refused because already off: done. Refused while on: a real failure."""
    fake_tool('case "$*" in\n'
              '  *"power status") echo "Chassis Power is %s";;\n'
              '  *"power soft") echo "Set Chassis Power Control to Soft failed: Command '
              'not supported in present state" >&2; exit 1;;\n'
              'esac' % status)
    task = make_task()
    if fails:
        with pytest.raises(exception.DriverActionError, match="soft power off failed"):
            task.driver.power.set_power_state(task, PowerState.SOFT_OFF)
    else:
        task.driver.power.set_power_state(task, PowerState.SOFT_OFF)


def test_not_executable_tool_is_tool_missing(tmp_path, ipmi_config):
    path = tmp_path / "ipmitool"
    path.write_text("#!/bin/sh\n")  # not executable
    ipmi_config(ipmi__ipmitool_path=str(path))
    task = make_task()
    with pytest.raises(exception.DriverToolMissing, match="no executable at"):
        task.driver.power.get_power_state(task)


def test_unsupported_boot_device_is_refused():
    task = make_task()
    with pytest.raises(exception.InvalidBootDevice, match="use one of: pxe, disk"):
        task.driver.management.set_boot_device(task, "floppy")


@pytest.mark.parametrize("options", [
    {"ipmi__command_timeout": 2.0},  # -N 1 -R 1 waits 2 s: not less
    {"ipmi__retries": 3, "ipmi__command_timeout": 10.0},  # 12 s
    {"ipmi__timeout": 5, "ipmi__command_timeout": 9.0},  # 10 s
])
def test_ipmitool_waiting_longer_than_command_timeout_is_refused(ipmi_config, options):
    """ipmitool's own resends must end before command_timeout kills it, or a
    silent BMC would be reported as a hung tool and the deadline rule's
    'one command timeout' would not bound an attempt."""
    ipmi_config(**options)
    with pytest.raises(exception.ConfigInvalid) as error:
        ipmitool.IPMIPower().check_config()
    assert error.value.option == "command_timeout"
    assert "timeout * retries * (retries + 1)" in str(error.value)
    ipmi_config(ipmi__command_timeout=60.0)
    ipmitool.IPMIPower().check_config()  # the defaults' 2 s fit
