"""The redfish driver against sushy-tools' emulator (tests/fixtures/redfish_emulator.py).

The emulator's fake driver applies a power change 1-11 s after accepting
it, so every power test here goes through the verify-after-action path
(:func:`hwdrivers.drivers.actions.wait_for_power_state`, or the conductor's
operations) for real; each such test drives systems no other test waits
on, and the conductor test powers several nodes at once, so the waits
overlap instead of adding up. Errors are produced by the real service:
wrong passwords are refused by its htpasswd, an unknown system id is a
404, a closed port refuses connections, a self-signed certificate fails
verification.
"""

import concurrent.futures
import time
import warnings

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import actions
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures.redfish_emulator import free_port

CTX = hw_context.get_admin_context()
RETRY_TIMEOUT = 1.0
WRONG = "Not-The-Password-42"


@pytest.fixture(autouse=True)
def redfish_config(config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           redfish__command_retry_timeout=RETRY_TIMEOUT, redfish__connect_timeout=1.0,
           redfish__read_timeout=10.0, conductor__power_state_change_timeout=30.0)
    # Every test starts without cached connections, so counts are its own.
    redfish_session.CACHE.clear()
    yield config
    redfish_session.CACHE.clear()


def make_task(driver_info, name="rf1"):
    return StandaloneTask.for_driver("redfish", driver_info=driver_info, name=name)


def silent_bmc_node(manager, host, port):
    """The redfish node "silent-bmc", its BMC at ``host:port`` (one that does not answer)."""
    return manager.create_node(CTX, {"driver": "redfish", "name": "silent-bmc",
                                     "driver_info": {
        "redfish_address": "http://%s:%d" % (host, port),
        "redfish_username": "admin", "redfish_password": WRONG}})


def toggled(state):
    return PowerState.OFF if state == PowerState.ON else PowerState.ON


def assert_no_secret(text, secrets):
    for secret in secrets:
        assert secret not in text, text


# -- power -----------------------------------------------------------------------

def _emulated(state):
    return "On" if state == PowerState.ON else "Off"


def test_power_on_reboot_off_soft_off_through_the_driver(redfish_emulator):
    """Each action returns once the BMC accepted it; the state is then polled.

    sys-a (off) is powered on and rebooted while sys-b (on) is powered off
    and sys-f (on) is shut down gracefully, at once, so the emulator's delays
    overlap.
    """
    def on_then_reboot():
        task = make_task(redfish_emulator.driver_info("sys-a"), name="a")
        power = task.driver.power
        power.validate(task)
        assert set(power.get_supported_power_states(task)) == {
            PowerState.ON, PowerState.OFF, PowerState.SOFT_OFF, PowerState.REBOOT,
            PowerState.SOFT_REBOOT}
        if power.get_power_state(task) == PowerState.ON:  # a re-run on a kept emulator
            actions.set_power_state(task, PowerState.OFF)
        assert actions.set_power_state(task, PowerState.ON) == PowerState.ON
        assert power.get_power_state(task) == PowerState.ON
        # The emulator reads Off at once and On after its delay: the verification
        # must wait for On, not take the first read.
        assert actions.set_power_state(task, PowerState.REBOOT) == PowerState.ON
        return task

    def off():
        task = make_task(redfish_emulator.driver_info("sys-b"), name="b")
        if task.driver.power.get_power_state(task) == PowerState.OFF:
            actions.set_power_state(task, PowerState.ON)
        assert actions.set_power_state(task, "off") == PowerState.OFF
        return task

    def soft_off():
        task = make_task(redfish_emulator.driver_info("sys-f"), name="f")
        if task.driver.power.get_power_state(task) == PowerState.OFF:
            actions.set_power_state(task, PowerState.ON)
        assert actions.set_power_state(task, PowerState.SOFT_OFF) == PowerState.OFF
        return task

    reset_path = "/redfish/v1/Systems/%s/Actions/ComputerSystem.Reset"
    before = {name: redfish_emulator.count_requests("POST", reset_path % redfish_emulator.uuid(
        name)) for name in ("sys-a", "sys-b")}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        rebooted, powered_off, _ = [f.result() for f in (
            pool.submit(on_then_reboot), pool.submit(off), pool.submit(soft_off))]
    assert redfish_emulator.system_json("sys-a")["PowerState"] == "On"
    assert redfish_emulator.system_json("sys-b")["PowerState"] == "Off"
    assert redfish_emulator.system_json("sys-f")["PowerState"] == "Off"
    assert rebooted.driver.power.get_power_state(rebooted) == PowerState.ON
    assert powered_off.driver.power.get_power_state(powered_off) == PowerState.OFF
    assert redfish_emulator.count_requests(
        "POST", reset_path % redfish_emulator.uuid("sys-a")) - before["sys-a"] >= 2
    assert redfish_emulator.count_requests(
        "POST", reset_path % redfish_emulator.uuid("sys-b")) - before["sys-b"] >= 1


def test_power_already_in_target_state_sends_no_reset(redfish_emulator):
    task = make_task(redfish_emulator.driver_info("sys-e"))
    state = actions.get_power_state(task)
    path = "/redfish/v1/Systems/%s/Actions/ComputerSystem.Reset" % redfish_emulator.uuid("sys-e")
    before = redfish_emulator.count_requests("POST", path)
    assert actions.set_power_state(task, state) == state
    assert redfish_emulator.count_requests("POST", path) == before


def test_nmi_the_emulator_does_not_implement_is_unsupported(redfish_emulator):
    """The emulator lists Nmi as allowed but answers 501: not retried, said so."""
    task = make_task(redfish_emulator.driver_info("sys-e"))
    with pytest.raises(exception.DriverUnsupportedAction) as info:
        actions.inject_nmi(task)
    message = str(info.value)
    assert "does not implement this (HTTP 501" in message
    assert "while injecting an NMI" in message and "attempts" not in message


@pytest.fixture
def manager(database):
    return manager_mod.ConductorManager()


def test_power_through_the_conductor_for_several_nodes_at_once(redfish_emulator, manager):
    """Three nodes on one BMC: two toggled, one rebooted, concurrently.

    The conductor publishes the target, the driver acts, the operation polls
    until the state holds, then records it and clears the target.
    """
    plans = {"sys-c": None, "sys-d": PowerState.REBOOT, "sys-e": None}
    for name in plans:
        manager.create_node(CTX, {"driver": "redfish", "name": name,
                                  "driver_info": redfish_emulator.driver_info(name)})

    def run(name):
        target = plans[name] or toggled(manager.get_power_state(CTX, name))
        return manager.change_power_state(CTX, name, target.value)

    with concurrent.futures.ThreadPoolExecutor(len(plans)) as pool:
        results = dict(zip(plans, pool.map(run, plans)))

    for name, state in results.items():
        assert state == (plans[name] or state).resting
        record = db_api.get_node(manager.get_node(CTX, name).id)
        assert record["power_state"] == state.value
        assert record["target_power_state"] is None, name
        assert record["last_error"] is None, name
        assert record["reservation"] is None, name
        assert manager.get_power_state(CTX, name) == state
        assert redfish_emulator.system_json(name)["PowerState"] == _emulated(state)
    assert results["sys-d"] == PowerState.ON  # a reboot ends on


def test_wrong_password_through_the_conductor_changes_nothing(redfish_emulator, manager):
    manager.create_node(CTX, {"driver": "redfish", "name": "locked-out",
                              "driver_info": redfish_emulator.driver_info(
                                  "sys-e", redfish_password=WRONG)})
    assert manager.validate_node(CTX, "locked-out")["power"]["result"] is True  # no I/O
    before = db_api.get_node(manager.get_node(CTX, "locked-out").id)
    state = redfish_emulator.system_json("sys-e")["PowerState"]
    with pytest.raises(exception.DriverAuthError) as info:
        manager.change_power_state(CTX, "locked-out", "power on" if state == "Off"
                                   else "power off")
    message = str(info.value)
    assert "node locked-out" in message
    assert "controller redfish:127.0.0.1:%d" % redfish_emulator.port in message
    assert_no_secret(message, [WRONG])
    after = db_api.get_node(manager.get_node(CTX, "locked-out").id)
    assert after["target_power_state"] is None and after["reservation"] is None
    assert after["power_state"] == before["power_state"]
    assert redfish_emulator.system_json("sys-e")["PowerState"] == state
    view = manager.node_view(manager.get_node(CTX, "locked-out"))
    assert view["driver_info"]["redfish_password"] == "******"


# -- boot device -------------------------------------------------------------------

@pytest.fixture
def wire(monkeypatch):
    """Records every request sushy sends: ``[(method, path, json body)]``.

    The requests still go to the emulator; this only lets a test see what
    the emulator does not echo back (it ignores BootSourceOverrideEnabled
    and always answers Continuous).
    """
    from sushy import connector

    sent = []
    real = connector.Connector._op

    def recording(self, method, path="", data=None, *args, **kwargs):
        sent.append((method, path, data))
        return real(self, method, path, data, *args, **kwargs)

    monkeypatch.setattr(connector.Connector, "_op", recording)
    return sent


def boot_patches(sent):
    """The BootSourceOverride* fields of every PATCH sent (sushy adds others)."""
    return [{k: v for k, v in data["Boot"].items() if k.startswith("BootSourceOverride")}
            for method, _, data in sent if method == "PATCH" and data and "Boot" in data]


def test_boot_device_pxe_once_then_disk_persistent(redfish_emulator, wire):
    task = make_task(redfish_emulator.driver_info("sys-a"))
    management = task.driver.management
    assert management.get_supported_boot_devices(task) == ["pxe", "disk", "cdrom"]

    actions.set_boot_device(task, "pxe", persistent=False)
    assert boot_patches(wire)[-1] == {"BootSourceOverrideTarget": "Pxe",
                                      "BootSourceOverrideEnabled": "Once"}
    assert actions.get_boot_device(task)["boot_device"] == "pxe"
    assert redfish_emulator.system_json("sys-a")["Boot"]["BootSourceOverrideTarget"] == "Pxe"

    actions.set_boot_device(task, "disk", persistent=True)
    assert boot_patches(wire)[-1] == {"BootSourceOverrideTarget": "Hdd",
                                      "BootSourceOverrideEnabled": "Continuous"}
    # What the BMC reports is what get_boot_device says (persistent included).
    assert actions.get_boot_device(task) == {"boot_device": "disk", "persistent": True}
    boot = redfish_emulator.system_json("sys-a")["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideEnabled"]) == (
        "Hdd", "Continuous")

    actions.set_boot_device(task, "cdrom")
    assert actions.get_boot_device(task)["boot_device"] == "cdrom"


def test_boot_mode_legacy_then_uefi(redfish_emulator, wire):
    legacy = make_task(redfish_emulator.driver_info("sys-b", redfish_boot_mode="legacy"))
    actions.set_boot_device(legacy, "pxe", persistent=True)
    assert boot_patches(wire)[-1]["BootSourceOverrideMode"] == "Legacy"
    boot = redfish_emulator.system_json("sys-b")["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideMode"]) == (
        "Pxe", "Legacy")

    uefi = make_task(redfish_emulator.driver_info("sys-b", redfish_boot_mode="uefi"))
    actions.set_boot_device(uefi, "disk", persistent=False)
    assert boot_patches(wire)[-1] == {"BootSourceOverrideTarget": "Hdd",
                                      "BootSourceOverrideEnabled": "Once",
                                      "BootSourceOverrideMode": "UEFI"}
    boot = redfish_emulator.system_json("sys-b")["Boot"]
    assert (boot["BootSourceOverrideTarget"], boot["BootSourceOverrideMode"]) == (
        "Hdd", "UEFI")

    # Already in the wanted mode, or no redfish_boot_mode: the mode is not sent.
    actions.set_boot_device(uefi, "pxe")
    actions.set_boot_device(make_task(redfish_emulator.driver_info("sys-b")), "cdrom")
    assert [p.get("BootSourceOverrideMode") for p in boot_patches(wire)[-2:]] == [None, None]
    assert redfish_emulator.system_json("sys-b")["Boot"]["BootSourceOverrideMode"] == "UEFI"


def test_boot_device_the_system_does_not_offer_changes_nothing(redfish_emulator):
    """The emulator offers Pxe, Cd, Hdd (and UefiHttp): no BiosSetup."""
    task = make_task(redfish_emulator.driver_info("sys-c"))
    actions.set_boot_device(task, "disk", persistent=True)
    before = redfish_emulator.system_json("sys-c")["Boot"]
    with pytest.raises(exception.InvalidBootDevice, match="supported: pxe, disk, cdrom"):
        actions.set_boot_device(task, "bios")
    with pytest.raises(exception.DriverUnsupportedAction, match="cannot boot from bios"):
        task.driver.management.set_boot_device(task, "bios")
    with pytest.raises(exception.InvalidBootDevice, match="use one of: pxe, disk, cdrom, bios"):
        task.driver.management.set_boot_device(task, "floppy")
    assert redfish_emulator.system_json("sys-c")["Boot"] == before


def test_boot_device_and_sensors_through_the_conductor(redfish_emulator, manager):
    manager.create_node(CTX, {"driver": "redfish", "name": "boot-node",
                              "driver_info": redfish_emulator.driver_info("sys-d")})
    assert manager.get_supported_boot_devices(CTX, "boot-node") == ["pxe", "disk", "cdrom"]
    manager.set_boot_device(CTX, "boot-node", "pxe", persistent=True)
    assert manager.get_boot_device(CTX, "boot-node") == {"boot_device": "pxe",
                                                          "persistent": True}
    assert redfish_emulator.system_json("sys-d")["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    sensors = manager.get_sensors_data(CTX, "boot-node")
    assert any(v["units"] == "Celsius" and v["reading"] for v in sensors["Temperature"].values())
    assert any(v["units"] == "RPM" for v in sensors["Fan"].values())


# -- choosing the system -----------------------------------------------------------

def test_system_by_path(redfish_emulator):
    path = "/redfish/v1/Systems/%s" % redfish_emulator.uuid("sys-d")
    by_path = make_task(redfish_emulator.driver_info(None, redfish_system_id=path))
    by_id = make_task(redfish_emulator.driver_info("sys-d"))
    actions.set_boot_device(by_path, "cdrom", persistent=True)
    assert actions.get_boot_device(by_id) == {"boot_device": "cdrom", "persistent": True}
    assert actions.get_power_state(by_path) == actions.get_power_state(by_id)


def test_address_with_root_path_and_trailing_slash(redfish_emulator):
    task = make_task(redfish_emulator.driver_info(
        "sys-d", redfish_address=redfish_emulator.url + "/redfish/v1/"))
    assert actions.get_power_state(task) in (PowerState.ON, PowerState.OFF)


def test_only_system_is_the_default(redfish_single_emulator):
    task = make_task(redfish_single_emulator.driver_info(None))
    assert actions.get_power_state(task) in (PowerState.ON, PowerState.OFF)
    actions.set_boot_device(task, "pxe")
    assert redfish_single_emulator.system_json("only")["Boot"][
        "BootSourceOverrideTarget"] == "Pxe"


def test_several_systems_and_no_id_is_a_settings_error_listing_them(redfish_emulator):
    task = make_task(redfish_emulator.driver_info(None))
    with pytest.raises(exception.DriverSettingsError) as info:
        actions.get_power_state(task)
    assert "attempts" not in str(info.value)  # not retried
    message = str(info.value)
    assert "set redfish_system_id to one of them" in message
    assert "%d systems" % len(redfish_emulator.systems) in message
    for uuid, _ in redfish_emulator.systems.values():
        assert uuid in message


def test_unknown_system_id_is_a_settings_error_naming_the_ids(redfish_emulator):
    task = make_task(redfish_emulator.driver_info(None, redfish_system_id="no-such-system"))
    for call in (actions.get_power_state, actions.get_boot_device):
        with pytest.raises(exception.DriverSettingsError) as info:
            call(task)
        message = str(info.value)
        assert "redfish_system_id 'no-such-system' does not exist" in message
        assert redfish_emulator.uuid("sys-a") in message and "valid ids" in message
        assert "controller redfish:127.0.0.1:%d" % redfish_emulator.port in message
        assert "attempts" not in message  # not retried


# -- credentials, reachability, TLS ------------------------------------------------

@pytest.mark.parametrize("auth_type", ["auto", "basic", "session"])
def test_wrong_password_is_an_auth_error_not_retried(redfish_emulator, auth_type):
    task = make_task(redfish_emulator.driver_info(
        "sys-a", redfish_password=WRONG, redfish_auth_type=auth_type))
    with pytest.raises(exception.DriverAuthError) as info:
        actions.get_power_state(task)
    message = str(info.value)
    assert "attempts" not in message  # not retried
    assert "refused user 'admin' (HTTP 401)" in message
    assert "check redfish_username and redfish_password" in message
    assert_no_secret(message, [WRONG, redfish_emulator.password])


def test_right_password_after_wrong_one_works(redfish_emulator):
    """A failed client is dropped, and a changed password gets a new one."""
    wrong = make_task(redfish_emulator.driver_info("sys-a", redfish_password=WRONG))
    with pytest.raises(exception.DriverAuthError):
        actions.get_power_state(wrong)
    right = make_task(redfish_emulator.driver_info("sys-a"))
    assert actions.get_power_state(right) in (PowerState.ON, PowerState.OFF)
    with pytest.raises(exception.DriverAuthError):  # and the other way round
        actions.get_power_state(wrong)


def test_session_auth_without_a_session_service_says_so(redfish_emulator):
    """sushy-tools has no SessionService: auth_type=session cannot log in."""
    task = make_task(redfish_emulator.driver_info("sys-a", redfish_auth_type="session"))
    with pytest.raises(exception.DriverAuthError, match="redfish_auth_type=auto"):
        actions.get_power_state(task)


def test_unreachable_port_fails_within_the_retry_deadline(redfish_emulator):
    port = free_port()
    task = make_task(redfish_emulator.driver_info(
        "sys-a", redfish_address="http://127.0.0.1:%d" % port))
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as info:
        actions.get_power_state(task)
    elapsed = time.monotonic() - started
    # Retried until the deadline: the last attempt starts just before it.
    assert RETRY_TIMEOUT - 0.2 <= elapsed < RETRY_TIMEOUT + 2.5, elapsed
    message = str(info.value)
    assert "cannot reach the Redfish service at http://127.0.0.1:%d" % port in message
    assert "Connection refused" in message and "after" in message and "attempts" in message
    assert "controller redfish:127.0.0.1:%d" % port in message
    assert_no_secret(message, [redfish_emulator.password])


def test_tls_verified_with_the_ca_bundle(redfish_tls_emulator):
    task = make_task(redfish_tls_emulator.driver_info(
        "sys-a", redfish_verify_ca=redfish_tls_emulator.ca_bundle))
    assert actions.get_power_state(task) in (PowerState.ON, PowerState.OFF)
    actions.set_boot_device(task, "pxe")
    assert redfish_tls_emulator.system_json("sys-a")["Boot"]["BootSourceOverrideTarget"] == "Pxe"


def test_tls_verification_is_on_by_default(redfish_tls_emulator):
    task = make_task(redfish_tls_emulator.driver_info("sys-a"))
    with pytest.raises(exception.DriverSettingsError) as info:
        actions.get_power_state(task)
    assert "attempts" not in str(info.value)  # a settings error: not retried
    message = str(info.value)
    assert "could not be verified" in message
    assert "set redfish_verify_ca to the path of the CA bundle" in message


@pytest.mark.parametrize("value", [False, "false"])
def test_tls_verification_can_be_turned_off(redfish_tls_emulator, value):
    task = make_task(redfish_tls_emulator.driver_info("sys-b", redfish_verify_ca=value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning: the point
        assert actions.get_power_state(task) in (PowerState.ON, PowerState.OFF)


def test_https_address_on_an_http_port_is_a_settings_error(redfish_emulator):
    task = make_task(redfish_emulator.driver_info(
        "sys-a", redfish_address="https://127.0.0.1:%d" % redfish_emulator.port))
    with pytest.raises(exception.DriverSettingsError, match="check that redfish_address "
                                                            "names the right scheme"):
        actions.get_power_state(task)


# -- connection reuse ----------------------------------------------------------------

def test_connections_are_reused_per_address_and_user(redfish_emulator, redfish_config):
    """One login per (address, user): the service root is read once per client."""
    def roots():
        return redfish_emulator.count_requests("GET", "/redfish/v1/")

    start = roots()
    admin_a = make_task(redfish_emulator.driver_info("sys-a"), name="a")
    admin_b = make_task(redfish_emulator.driver_info("sys-b"), name="b")
    for _ in range(3):
        for task in (admin_a, admin_b):
            actions.get_power_state(task)
            actions.get_boot_device(task)
    assert roots() - start == 1
    assert len(redfish_session.CACHE) == 1

    operator = make_task(redfish_emulator.driver_info(
        "sys-a", redfish_username="operator",
        redfish_password=redfish_emulator.users["operator"]), name="op")
    actions.get_power_state(operator)
    actions.get_power_state(operator)
    assert roots() - start == 2
    assert len(redfish_session.CACHE) == 2

    # The cache is bounded: with room for one, alternating users log in each time.
    redfish_config(redfish__connection_cache_size=1)
    redfish_session.CACHE.clear()
    start = roots()
    for task in (admin_a, operator, admin_a, operator):
        actions.get_power_state(task)
    assert roots() - start == 4
    assert len(redfish_session.CACHE) == 1


# -- secrets ------------------------------------------------------------------------

def test_secrets_never_logged_or_raised(redfish_emulator, redfish_tls_emulator, caplog):
    caplog.set_level("DEBUG")
    password = redfish_emulator.password
    failing = [
        redfish_emulator.driver_info("sys-a", redfish_password=WRONG),
        redfish_emulator.driver_info("sys-a", redfish_password=WRONG,
                                     redfish_auth_type="session"),
        redfish_emulator.driver_info("sys-a", redfish_auth_type="session"),
        redfish_emulator.driver_info(None, redfish_system_id="nope"),
        redfish_emulator.driver_info(None),
        redfish_emulator.driver_info("sys-a", redfish_address="http://127.0.0.1:%d"
                                     % free_port()),
        redfish_tls_emulator.driver_info("sys-a"),
    ]
    messages = []
    for info in failing:
        task = make_task(info)
        with pytest.raises(exception.DriverError) as error:
            retry.run(task, task.driver.power, task.driver.power.get_power_state)
        messages.append(str(error.value))
    # And a working one, with the session machinery logging at debug level.
    task = make_task(redfish_emulator.driver_info("sys-a"))
    task.driver.power.get_power_state(task)
    text = caplog.text + "\n".join(messages)
    assert "refused" in text and "does not exist" in text  # the failures were logged
    assert_no_secret(text, [password, WRONG])
    # The redacted driver_info is what the node shows.
    assert task.driver.schema.mask(task.node.driver_info)["redfish_password"] == "******"


# -- deadlines ---------------------------------------------------------------------------

# A closed port refuses at once, so only a long retry timeout shows the old
# read-back after the failure doubling it.
@pytest.mark.parametrize("peer, retry_timeout", [("tcp_blackhole", 2.5),
                                                 ("closed_tcp_port", 8.0)])
def test_conductor_records_the_error_within_the_deadline(peer, retry_timeout, request,
                                                         redfish_config, sqlite_database):
    """A BMC that accepts the connection and never answers, or a closed port:
    one power change ends with its error recorded within
    command_retry_timeout + command_timeout + SLACK.

    Before, the worker's capability check waited a whole read timeout, the
    action retried for the whole command_retry_timeout, and the read-back
    after the failure did both again."""
    command_timeout = 2.0
    redfish_config(redfish__command_retry_timeout=retry_timeout,
                   redfish__connect_timeout=command_timeout,
                   redfish__read_timeout=command_timeout,
                   redfish__command_timeout=command_timeout)
    bmc = request.getfixturevalue(peer)
    manager = manager_mod.ConductorManager()
    node = silent_bmc_node(manager, bmc.host, bmc.port)
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as error:
        manager.change_power_state(CTX, "silent-bmc", "power on")
    elapsed = time.monotonic() - started
    record = db_api.get_node(node.id)
    assert record["last_error"] == str(error.value)
    assert "node silent-bmc" in record["last_error"]
    assert "cannot reach the Redfish service" in record["last_error"]
    assert_no_secret(record["last_error"], [WRONG])
    assert record["power_state"] == PowerState.ERROR.value
    bound = retry_timeout + command_timeout + retry.SLACK
    print("%s: error recorded after %.1fs (bound %.1fs)" % (peer, elapsed, bound))
    assert elapsed < bound + 3.0  # what a loaded machine may add


def test_one_call_ends_within_command_timeout_whatever_the_read_timeout(tcp_blackhole,
                                                                        redfish_config):
    """sushy's connect and read timeouts are per request; command_timeout cuts
    them to what the call has left (checks the wrapping of the installed sushy)."""
    redfish_config(redfish__command_timeout=1.0, redfish__connect_timeout=30.0,
                   redfish__read_timeout=30.0)
    task = make_task({"redfish_address": "http://%s:%d" % tcp_blackhole.address,
                      "redfish_username": "admin", "redfish_password": WRONG})
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as error:
        task.driver.power.get_power_state(task)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 2.0, elapsed
    assert "timed out" in str(error.value)
    assert tcp_blackhole.accepted >= 1  # it connected, then nothing came back


def test_a_silent_capability_check_counts_against_the_deadline(tcp_blackhole, redfish_config,
                                                               sqlite_database):
    """The worker's check of what the system allows is one call to the BMC: when
    it gets no answer and the deadline has passed, the action is not tried too
    (one more command timeout past the bound)."""
    redfish_config(redfish__command_retry_timeout=1.0, redfish__command_timeout=2.0,
                   redfish__read_timeout=2.0)
    manager = manager_mod.ConductorManager()
    node = silent_bmc_node(manager, *tcp_blackhole.address)
    started = time.monotonic()
    with pytest.raises(retry.DeadlinePassed) as error:
        manager.change_power_state(CTX, "silent-bmc", "power off")
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 2.0 + retry.SLACK + 1.0, elapsed
    last_error = db_api.get_node(node.id)["last_error"]
    assert last_error == str(error.value)
    assert "not attempted" in last_error and "reading what the system allows" in last_error
    assert tcp_blackhole.accepted == 1  # the check's connection; the action made none


def test_boot_device_on_a_silent_bmc_asks_it_once_within_the_deadline(
        tcp_blackhole, redfish_config, sqlite_database):
    """Setting the boot device checks what the system allows, twice over (the
    conductor's check, then the action's own): on a BMC that did not answer
    the first, the second is not sent, and the action is not tried past the
    deadline."""
    retry_timeout, command_timeout = 1.0, 3.0
    redfish_config(redfish__command_retry_timeout=retry_timeout,
                   redfish__command_timeout=command_timeout,
                   redfish__read_timeout=command_timeout)
    manager = manager_mod.ConductorManager()
    node = silent_bmc_node(manager, *tcp_blackhole.address)
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as error:
        manager.set_boot_device(CTX, "silent-bmc", "pxe")
    elapsed = time.monotonic() - started
    assert tcp_blackhole.accepted == 1
    assert db_api.get_node(node.id)["last_error"] == str(error.value)
    assert elapsed < retry_timeout + command_timeout + retry.SLACK + 1.5, elapsed
