"""The ipmi driver: real ipmitool against pyghmi fake BMCs on 127.0.0.1.

The BMCs (tests/fixtures/ipmi_bmc.py) keep power state and boot flags and
report every command that reached them, so these tests check what the
BMC saw, not just what the driver returned. The error tests give wrong
passwords, unknown users, too little privilege, a port nobody answers on
and a missing ipmitool; the secrecy tests watch the real ipmitool
processes' argv (from a recording shim and from /proc) and the logs.
"""

import os
import stat
import threading
import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import actions
from hwdrivers.drivers import retry
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures.ipmi_bmc import PASSWORD
from tests.fixtures.ipmi_bmc import VIEWER
from tests.fixtures.ipmi_bmc import start_fake_bmcs
from tests.fixtures.snmp_agent import free_udp_port

CTX = hw_context.get_admin_context()
WRONG = "Wr0ng-Pa55word"
SECRETS = (PASSWORD, VIEWER[1], WRONG)
IPMITOOL = "/usr/bin/ipmitool"

pytestmark = pytest.mark.skipif(not os.access(IPMITOOL, os.X_OK),
                                reason="Debian's ipmitool is not installed "
                                       "(apt install ipmitool)")


@pytest.fixture(autouse=True)
def ipmi_config(config):
    config(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
           enabled_management_interfaces=["ipmitool"], ipmi__command_retry_timeout=5.0,
           ipmi__timeout=1, ipmi__retries=1, conductor__soft_power_off_timeout=5)
    return config


def make_task(driver_info, name="ipmi-node", **fields):
    return StandaloneTask.for_driver("ipmi", driver_info=driver_info, name=name, **fields)


def power_to(task, state):
    """Set and verify, as every caller does (retries, then polling the state)."""
    return actions.set_power_state(task, state)


def assert_no_secret(text):
    for secret in SECRETS:
        assert secret not in text, text


# -- power ---------------------------------------------------------------------------

def test_power_on_off_status(fake_bmcs):
    task = make_task(fake_bmcs.driver_info(0))
    power = task.driver.power
    power.validate(task)
    assert power_to(task, PowerState.OFF) == PowerState.OFF
    assert power.get_power_state(task) == PowerState.OFF
    assert power_to(task, "on") == PowerState.ON
    assert power.get_power_state(task) == PowerState.ON
    assert power_to(task, "off") == PowerState.OFF
    events = fake_bmcs.events(fake_bmcs.ports[0])
    assert events[-3:] == ["power_on", "boot", "power_off"]


def test_reboot_cycles_when_on_and_powers_on_when_off(fake_bmcs):
    port = fake_bmcs.ports[1]
    task = make_task(fake_bmcs.driver_info(1))
    power_to(task, PowerState.ON)
    before = len(fake_bmcs.events(port))
    assert power_to(task, PowerState.REBOOT) == PowerState.ON
    assert fake_bmcs.events(port)[before:] == ["power_cycle", "boot"]

    power_to(task, PowerState.OFF)
    before = len(fake_bmcs.events(port))
    task.driver.power.reboot(task)  # a BMC refuses to cycle a machine that is off
    assert task.driver.power.get_power_state(task) == PowerState.ON
    assert fake_bmcs.events(port)[before:] == ["power_on", "boot"]


def test_reboot_falls_back_to_off_and_on_when_the_bmc_refuses_cycle():
    """Like pyghmi's stock fakebmc and VirtualBMC: no chassis power cycle (0xcc)."""
    with start_fake_bmcs(1, refuse_cycle=True) as bmcs:
        port = bmcs.ports[0]
        task = make_task(bmcs.driver_info(0))
        power_to(task, PowerState.ON)
        before = len(bmcs.events(port))
        assert power_to(task, PowerState.REBOOT) == PowerState.ON
        assert bmcs.events(port)[before:] == ["power_cycle_refused", "power_off",
                                              "power_on", "boot"]

        # Ironic's reboot of a node that is off powers it on; nothing is cycled.
        power_to(task, PowerState.OFF)
        before = len(bmcs.events(port))
        assert power_to(task, PowerState.REBOOT) == PowerState.ON
        assert bmcs.events(port)[before:] == ["power_on", "boot"]


def test_reboot_against_pyghmi_stock_fakebmc(tmp_path):
    """pyghmi's own ``fakebmc`` script, unmodified: it has no power cycle at all."""
    import subprocess
    import sys

    from tests.fixtures.processes import stop_group
    from tests.waits import wait_for

    script = os.path.join(os.path.dirname(sys.executable), "fakebmc")
    if not os.access(script, os.X_OK):
        pytest.skip("pyghmi's fakebmc script is not installed")
    port = free_udp_port()
    log = tmp_path / "fakebmc.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([script, "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        task = make_task({"ipmi_address": "127.0.0.1", "ipmi_port": port,
                          "ipmi_username": "admin", "ipmi_password": "password"})

        def answers():
            try:
                return task.driver.power.get_power_state(task)
            except exception.DriverError:
                return None

        wait_for(answers, timeout=30, interval=0.2, message="pyghmi's fakebmc")
        power_to(task, PowerState.ON)
        before = log.read_text().splitlines()
        assert power_to(task, PowerState.REBOOT) == PowerState.ON
        assert log.read_text().splitlines()[len(before):] == [
            "abruptly remove power", "powered on"]
        power_to(task, PowerState.OFF)
        assert power_to(task, PowerState.REBOOT) == PowerState.ON
    finally:
        stop_group(proc)


def test_reboot_of_an_off_machine_powers_it_on_through_the_conductor_path(fake_bmcs):
    port = fake_bmcs.ports[1]
    task = make_task(fake_bmcs.driver_info(1))
    power_to(task, PowerState.OFF)
    before = len(fake_bmcs.events(port))
    assert power_to(task, PowerState.REBOOT) == PowerState.ON
    assert fake_bmcs.events(port)[before:] == ["power_on", "boot"]


def test_soft_power_off_and_soft_reboot_wait_for_the_os():
    with start_fake_bmcs(1, soft_off_delay=0.5) as bmcs:
        port = bmcs.ports[0]
        task = make_task(bmcs.driver_info(0))
        power_to(task, PowerState.ON)
        started = time.monotonic()
        assert power_to(task, PowerState.SOFT_OFF) == PowerState.OFF
        assert time.monotonic() - started >= 0.5  # verified only once the OS was off
        assert "power_off" not in bmcs.events(port)  # ACPI shutdown, not a hard off

        power_to(task, PowerState.ON)
        before = len(bmcs.events(port))
        assert power_to(task, PowerState.SOFT_REBOOT) == PowerState.ON
        assert bmcs.events(port)[before:] == ["power_soft", "soft_off_done", "power_on",
                                              "boot"]


def test_soft_reboot_of_an_os_that_ignores_acpi_fails_clearly():
    with start_fake_bmcs(1, soft_off_delay=30) as bmcs:
        task = make_task(bmcs.driver_info(0))
        power_to(task, PowerState.ON)
        with pytest.raises(exception.DriverActionError, match="still on 1s after the soft"):
            task.driver.power.set_power_state(task, PowerState.SOFT_REBOOT, timeout=1)
        assert "power_on" not in bmcs.events(bmcs.ports[0])[-2:]


# -- management -------------------------------------------------------------------------

def test_fresh_bmc_has_no_boot_override():
    with start_fake_bmcs(1) as bmcs:
        task = make_task(bmcs.driver_info(0))
        assert task.driver.management.get_boot_device(task) == {
            "boot_device": None, "persistent": None}


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("device", ["pxe", "disk", "cdrom", "bios", "safe"])
def test_set_and_get_boot_device(fake_bmcs, device, persistent):
    task = make_task(fake_bmcs.driver_info(2))
    actions.set_boot_device(task, device, persistent=persistent)
    assert task.driver.management.get_boot_device(task) == {
        "boot_device": device, "persistent": persistent}
    flags = [r["flags"] for r in fake_bmcs.records(fake_bmcs.ports[2])
             if r["event"] == "set_boot"][-1]
    assert flags[0] == 0x80 | (0x40 if persistent else 0)  # valid, persistent, legacy


def test_uefi_boot_mode_sends_efiboot(fake_bmcs):
    port = fake_bmcs.ports[2]
    for task in (make_task(fake_bmcs.driver_info(2, ipmi_boot_mode="uefi")),
                 make_task(fake_bmcs.driver_info(2),  # Ironic's capability
                           properties={"capabilities": "boot_mode:uefi,foo:bar"})):
        task.driver.management.set_boot_device(task, "pxe", persistent=True)
        flags = [r["flags"] for r in fake_bmcs.records(port) if r["event"] == "set_boot"][-1]
        assert flags[:2] == [0x80 | 0x40 | 0x20, 0x04]  # valid, persistent, EFI; PXE
        assert task.driver.management.get_boot_device(task) == {
            "boot_device": "pxe", "persistent": True}


def test_one_time_boot_device_is_used_up_by_a_boot(fake_bmcs):
    task = make_task(fake_bmcs.driver_info(3))
    power_to(task, PowerState.OFF)
    task.driver.management.set_boot_device(task, "cdrom", persistent=False)
    power_to(task, PowerState.ON)  # the BMC boots once from cdrom and forgets it
    boot = [r["flags"] for r in fake_bmcs.records(fake_bmcs.ports[3])
            if r["event"] == "boot"][-1]
    assert boot[1] == 0x14  # booted with the cdrom selector
    assert task.driver.management.get_boot_device(task) == {
        "boot_device": None, "persistent": None}


@pytest.mark.parametrize("disable", [True, False])
def test_boot_flag_timeout_is_disabled_by_default(disable):
    """Real BMCs drop boot flags 60 s after setting unless told not to (here 0.5 s)."""
    with start_fake_bmcs(1, boot_flag_timeout=0.5) as bmcs:
        task = make_task(bmcs.driver_info(0, ipmi_disable_boot_timeout=disable))
        task.driver.management.set_boot_device(task, "pxe")
        time.sleep(0.7)
        expected = {"boot_device": "pxe", "persistent": False} if disable else {
            "boot_device": None, "persistent": None}
        assert task.driver.management.get_boot_device(task) == expected
        assert ("set_valid_bit_clearing" in bmcs.events()) is disable


def test_force_boot_device_resends_it_before_power_on(fake_bmcs):
    """A BMC that forgot the persistent device gets it again right before booting."""
    port = fake_bmcs.ports[3]
    forced = make_task(fake_bmcs.driver_info(3, ipmi_force_boot_device=True),
                       boot_device="pxe", boot_device_persistent=True)
    power_to(forced, PowerState.OFF)
    plain = make_task(fake_bmcs.driver_info(3))
    plain.driver.management.set_boot_device(plain, "disk", persistent=True)  # "forgot"
    for target in (PowerState.ON, PowerState.REBOOT):
        before = len(fake_bmcs.records(port))
        power_to(forced, target)
        records = fake_bmcs.records(port)[before:]
        boots = [r for r in records if r["event"] == "boot"]
        assert boots and boots[-1]["flags"][:2] == [0xC0, 0x04]  # booted persistent PXE
        names = [r["event"] for r in records]
        assert names.index("set_boot") < names.index("boot")
    # Without the option, or for a one-time device, nothing is re-sent.
    for task in (make_task(fake_bmcs.driver_info(3), boot_device="pxe",
                           boot_device_persistent=True),
                 make_task(fake_bmcs.driver_info(3, ipmi_force_boot_device=True),
                           boot_device="pxe", boot_device_persistent=False)):
        before = len(fake_bmcs.records(port))
        power_to(task, PowerState.REBOOT)
        assert "set_boot" not in [r["event"] for r in fake_bmcs.records(port)[before:]]


def test_unsupported_boot_device_is_refused_before_the_bmc(fake_bmcs):
    task = make_task(fake_bmcs.driver_info(2))
    before = len(fake_bmcs.events())
    with pytest.raises(exception.InvalidBootDevice, match="supported: pxe, disk"):
        actions.set_boot_device(task, "wanboot")
    assert len(fake_bmcs.events()) == before


def test_sensors(fake_bmcs):
    task = make_task(fake_bmcs.driver_info(0))
    sensors = actions.get_sensors_data(task)
    assert set(sensors) == {"Temperature", "Fan", "Voltage"}
    inlet = sensors["Temperature"]["Inlet Temp (0x1)"]
    assert inlet["Sensor Reading"].startswith("21 ") and "degrees C" in inlet["Sensor Reading"]
    assert sensors["Fan"]["Fan1 (0x2)"]["Sensor Reading"].startswith("4800 ")
    assert sensors["Voltage"]["12V (0x3)"]["Sensor Reading"].startswith("12 ")


def test_inject_nmi(fake_bmcs):
    task = make_task(fake_bmcs.driver_info(1))
    actions.inject_nmi(task)
    assert fake_bmcs.wait_for_event(fake_bmcs.ports[1], "nmi")


def test_controller_key_and_limits(fake_bmcs, ipmi_config):
    ipmi_config(ipmi__max_concurrency=2, ipmi__min_command_interval=0.5)
    task = make_task(fake_bmcs.driver_info(0))
    key = "ipmi:127.0.0.1:%d" % fake_bmcs.ports[0]
    assert task.driver.power.controller_key(task) == key
    assert task.driver.management.controller_key(task) == key  # one queue per BMC
    assert tuple(task.driver.power.controller_limits()) == (2, 0.5)


# -- errors --------------------------------------------------------------------------

def _fails(task, call, *args, cls):
    started = time.monotonic()
    with pytest.raises(cls) as info:
        retry.run(task, task.driver.power if call.__self__ is task.driver.power
                  else task.driver.management, call, *args)
    return info.value, time.monotonic() - started


def test_wrong_password_is_an_auth_error_at_once(fake_bmcs):
    task = make_task(fake_bmcs.driver_info(0, ipmi_password=WRONG))
    error, elapsed = _fails(task, task.driver.power.get_power_state,
                            cls=exception.DriverAuthError)
    assert elapsed < 2.5  # not retried for the 5 s deadline
    message = str(error)
    assert "check ipmi_password" in message and "RAKP 2 HMAC is invalid" in message
    assert "node ipmi-node" in message
    assert "controller ipmi:127.0.0.1:%d" % fake_bmcs.ports[0] in message
    assert "after" not in message
    assert_no_secret(message)


def test_unknown_user_is_an_auth_error(fake_bmcs):
    task = make_task(fake_bmcs.driver_info(0, ipmi_username="nobody"))
    error, _ = _fails(task, task.driver.power.get_power_state,
                      cls=exception.DriverAuthError)
    assert "does not know user 'nobody'" in str(error)
    assert "check ipmi_username" in str(error)


def test_privilege_errors_name_ipmi_priv_level(fake_bmcs):
    viewer = {"ipmi_username": VIEWER[0], "ipmi_password": VIEWER[1]}
    task = make_task(fake_bmcs.driver_info(0, **viewer))  # asks for ADMINISTRATOR
    error, _ = _fails(task, task.driver.power.get_power_state,
                      cls=exception.DriverAuthError)
    assert "ipmi_priv_level" in str(error) and "ADMINISTRATOR" in str(error)

    task = make_task(fake_bmcs.driver_info(0, ipmi_priv_level="USER", **viewer))
    assert task.driver.power.get_power_state(task) in (PowerState.ON, PowerState.OFF)
    error, _ = _fails(task, task.driver.power.set_power_state, PowerState.ON,
                      cls=exception.DriverAuthError)
    assert "Insufficient privilege level" in str(error)
    assert "set ipmi_priv_level to OPERATOR or ADMINISTRATOR" in str(error)
    error, _ = _fails(task, task.driver.management.set_boot_device, "pxe",
                      cls=exception.DriverAuthError)
    assert "disabling the boot flag timeout failed" in str(error)
    # ipmitool exits 0 when the BMC refuses boot flags: the driver still sees it.
    task = make_task(fake_bmcs.driver_info(0, ipmi_priv_level="USER",
                                           ipmi_disable_boot_timeout=False, **viewer))
    error, _ = _fails(task, task.driver.management.set_boot_device, "pxe",
                      cls=exception.DriverAuthError)
    assert "Set Chassis Boot Parameter 5 failed" in str(error)
    assert_no_secret(str(error))


def test_closed_port_is_a_connection_error_within_the_deadline(fake_bmcs, ipmi_config):
    ipmi_config(ipmi__command_retry_timeout=3.0)
    port = free_udp_port()
    task = make_task(fake_bmcs.driver_info(0, ipmi_port=port))
    error, elapsed = _fails(task, task.driver.power.set_power_state, PowerState.ON,
                            cls=exception.DriverConnectionError)
    # An attempt gives up after 2 s (-N 1 -R 1), so the 3 s deadline allows a
    # second one, which may run past it: deadline + one attempt + slack.
    assert 4.0 <= elapsed < 3.0 + 2.0 + 1.5
    message = str(error)
    assert "no answer from the BMC" in message and "check ipmi_address and ipmi_port" in message
    assert "(after 2 attempts)" in message
    assert "controller ipmi:127.0.0.1:%d" % port in message


def test_cipher_suite_the_bmc_lacks_is_a_settings_error(fake_bmcs):
    task = make_task(fake_bmcs.driver_info(0, ipmi_cipher_suite=17))
    error, elapsed = _fails(task, task.driver.power.get_power_state,
                            cls=exception.DriverSettingsError)
    assert "does not offer cipher suite 17" in str(error) and elapsed < 2.5
    task = make_task(fake_bmcs.driver_info(0, ipmi_cipher_suite=3))
    assert task.driver.power.get_power_state(task) in (PowerState.ON, PowerState.OFF)


@pytest.mark.parametrize("how", ["option", "path"])
def test_missing_ipmitool_is_tool_missing(fake_bmcs, ipmi_config, monkeypatch, tmp_path, how):
    if how == "option":
        ipmi_config(ipmi__ipmitool_path=str(tmp_path / "no" / "ipmitool"))
    else:
        monkeypatch.setenv("PATH", str(tmp_path))  # nothing on it
    task = make_task(fake_bmcs.driver_info(0))
    before = len(fake_bmcs.events())
    error, elapsed = _fails(task, task.driver.power.set_power_state, PowerState.ON,
                            cls=exception.DriverToolMissing)
    assert elapsed < 2.5  # not retried for the 5 s deadline
    assert "apt install ipmitool" in str(error) and "[ipmi] ipmitool_path" in str(error)
    assert len(fake_bmcs.events()) == before


# -- secrets -----------------------------------------------------------------------------

@pytest.fixture
def recording_ipmitool(tmp_path, monkeypatch):
    """An ``ipmitool`` first on PATH that records argv and env names, then runs the real one.

    It pauses 0.3 s first so a /proc poller surely sees the process.
    """
    log = tmp_path / "calls"
    log.mkdir()
    shim = tmp_path / "bin" / "ipmitool"
    shim.parent.mkdir()
    shim.write_text(
        "#!/bin/sh\n"
        "f=%s/$$\n"
        "for a in \"$@\"; do printf '%%s\\0' \"$a\"; done > \"$f.argv\"\n"
        "env | cut -d= -f1 > \"$f.env\"\n"
        "sleep 0.3\n"
        "exec %s \"$@\"\n" % (log, IPMITOOL))
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", "%s:%s" % (shim.parent, os.environ["PATH"]))
    return log


def _proc_cmdlines():
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"ipmitool") for part in argv[:2]) and b"-H" in argv:
            found.append(argv)
    return found


def test_password_is_never_on_the_command_line(fake_bmcs, recording_ipmitool, monkeypatch):
    # An inherited IPMITOOL_PASSWORD would win over ours in ipmitool: it must go.
    monkeypatch.setenv("IPMITOOL_PASSWORD", WRONG)
    seen, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            seen.extend(_proc_cmdlines())
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        task = make_task(fake_bmcs.driver_info(1))
        power_to(task, PowerState.ON)
        task.driver.management.set_boot_device(task, "disk")
        assert task.driver.management.get_boot_device(task)["boot_device"] == "disk"
    finally:
        stop.set()
        poller.join()

    calls = sorted(recording_ipmitool.glob("*.argv"))
    assert len(calls) >= 4  # power on, status (verify), bootdev, bootparam
    for path in calls:
        argv = path.read_bytes().split(b"\0")
        assert b"-E" in argv and b"-H" in argv
        assert not any(PASSWORD.encode() in a or WRONG.encode() in a for a in argv), argv
        env_names = path.with_suffix(".env").read_text().split()
        assert "IPMI_PASSWORD" in env_names and "IPMITOOL_PASSWORD" not in env_names
    assert seen, "the /proc poller saw no ipmitool process"
    for argv in seen:
        assert not any(PASSWORD.encode() in a for a in argv), argv


def test_secrets_never_logged_or_raised(fake_bmcs, caplog, ipmi_config):
    ipmi_config(ipmi__command_retry_timeout=1.0)
    caplog.set_level("DEBUG")
    errors = []
    cases = [fake_bmcs.driver_info(0, ipmi_password=WRONG),
             fake_bmcs.driver_info(0, ipmi_username=VIEWER[0], ipmi_password=VIEWER[1]),
             fake_bmcs.driver_info(0, ipmi_port=free_udp_port()),
             fake_bmcs.driver_info(0, ipmi_priv_level="GOD")]
    for info in cases:
        task = make_task(info)
        try:
            actions.set_power_state(task, PowerState.ON)
        except (exception.DriverError, exception.InvalidParameterValue) as exc:
            errors.append(str(exc))
    assert len(errors) == len(cases)
    ok = make_task(fake_bmcs.driver_info(0))
    power_to(ok, PowerState.ON)
    actions.get_sensors_data(ok)
    assert "-E" in caplog.text  # the debug log shows the command line
    for text in errors + [caplog.text]:
        assert_no_secret(text)


# -- many BMCs, one process ---------------------------------------------------------------

def test_twenty_bmcs_in_one_process_answer_in_parallel(ipmi_config):
    """Correctness, not speed: one Python process serves all 20 BMCs, so on a
    loaded machine an answer can miss ipmitool's 1 s; allow for that."""
    from concurrent.futures import ThreadPoolExecutor
    ipmi_config(ipmi__timeout=3, ipmi__command_retry_timeout=60.0)
    with start_fake_bmcs(20) as bmcs:
        assert len(set(bmcs.ports)) == 20
        tasks = [make_task(bmcs.driver_info(i), name="n%d" % i) for i in range(20)]
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            states = list(pool.map(lambda t: power_to(t, PowerState.ON), tasks))
        elapsed = time.monotonic() - started
        assert states == [PowerState.ON] * 20
        for port in bmcs.ports:
            assert bmcs.events(port) == ["power_on", "boot"]
        print("20 BMCs powered on and verified in %.2fs" % elapsed)


# -- through the conductor ---------------------------------------------------------------

@pytest.fixture
def manager(database):
    return manager_mod.ConductorManager()


def test_conductor_power_and_boot_device(manager, fake_bmcs):
    node = manager.create_node(CTX, {"driver": "ipmi", "name": "bmc-node",
                                     "driver_info": fake_bmcs.driver_info(3)})
    assert manager.validate_node(CTX, "bmc-node")["power"]["result"] is True
    for target, expected in (("power off", PowerState.OFF), ("power on", PowerState.ON),
                             ("rebooting", PowerState.ON),
                             ("soft power off", PowerState.OFF)):
        assert manager.change_power_state(CTX, "bmc-node", target) == expected
        record = db_api.get_node(node.id)
        assert record["power_state"] == expected.value  # verified after acting
        assert record["target_power_state"] is None and record["last_error"] is None
    assert manager.get_power_state(CTX, "bmc-node") == PowerState.OFF

    manager.set_boot_device(CTX, "bmc-node", "pxe", persistent=True)
    assert manager.get_boot_device(CTX, "bmc-node") == {"boot_device": "pxe",
                                                        "persistent": True}
    assert db_api.get_node(node.id)["boot_device"] == "pxe"
    assert "Temperature" in manager.get_sensors_data(CTX, "bmc-node")
    manager.inject_nmi(CTX, "bmc-node")
    assert fake_bmcs.wait_for_event(fake_bmcs.ports[3], "nmi")
    shown = manager.node_view(manager.get_node(CTX, "bmc-node"))
    assert_no_secret(repr(shown))


def test_conductor_records_auth_failure_without_the_password(manager, fake_bmcs):
    node = manager.create_node(CTX, {
        "driver": "ipmi", "name": "bad-node",
        "driver_info": fake_bmcs.driver_info(3, ipmi_password=WRONG)})
    before = db_api.get_node(node.id)
    with pytest.raises(exception.DriverAuthError):
        manager.change_power_state(CTX, "bad-node", "power on")
    record = db_api.get_node(node.id)
    assert "check ipmi_password" in record["last_error"]
    assert "node bad-node" in record["last_error"]
    assert record["target_power_state"] is None
    assert record["power_state"] == before["power_state"]  # refused before acting
    assert_no_secret(record["last_error"])


# -- deadlines ---------------------------------------------------------------------------

#: What a loaded machine may add to the rule's bound (process start-up, scheduling).
GENEROUS = 3.0


@pytest.mark.parametrize("peer", ["udp_blackhole", "closed_udp_port"])
def test_conductor_records_the_error_within_the_deadline(peer, request, ipmi_config,
                                                         sqlite_database):
    """A BMC that never answers, or a closed port: one power change ends with
    its error recorded within command_retry_timeout + command_timeout + SLACK.

    Before, the action retried for the whole command_retry_timeout and the
    read-back after the failure did it all again (64 s with the defaults);
    and a retry could start right at the deadline."""
    retry_timeout, command_timeout = 8.0, 2.5
    # ipmitool gives up on an unanswered message after timeout * retries *
    # (retries + 1) = 2 s, within command_timeout.
    ipmi_config(ipmi__command_retry_timeout=retry_timeout,
                ipmi__command_timeout=command_timeout, ipmi__timeout=1, ipmi__retries=1)
    bmc = request.getfixturevalue(peer)
    manager = manager_mod.ConductorManager()
    node = manager.create_node(CTX, {"driver": "ipmi", "name": "silent-bmc", "driver_info": {
        "ipmi_address": bmc.host, "ipmi_port": bmc.port, "ipmi_username": "admin",
        "ipmi_password": PASSWORD}})
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as error:
        manager.change_power_state(CTX, "silent-bmc", "power on")
    elapsed = time.monotonic() - started
    record = db_api.get_node(node.id)
    assert record["last_error"] == str(error.value)
    assert "node silent-bmc" in record["last_error"] and "no answer" in record["last_error"]
    assert record["power_state"] == PowerState.ERROR.value  # unknown: not read again
    assert record["target_power_state"] is None
    assert_no_secret(record["last_error"])
    bound = retry_timeout + command_timeout + retry.SLACK
    print("%s: error recorded after %.1fs (bound %.1fs)" % (peer, elapsed, bound))
    assert elapsed < bound + GENEROUS
