"""The redfish driver's error paths, with sushy's client replaced by a stand-in.

What the emulator cannot produce -- a system that allows few reset types,
a BMC with no systems, HTTP 403/500/501, a library that echoes the
password, a cache under pressure -- is produced here. Everything the
emulator can produce is tested against it in tests/functional/test_redfish.py.
"""

import time

import sushy
from sushy import exceptions as sushy_exc

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.drivers import actions
from hwdrivers.drivers import params
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import redfish
from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask

PASSWORD = "Sup3r-Secret-Pw"
ADDRESS = "https://bmc.example.com"


@pytest.fixture(autouse=True)
def redfish_config(config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           redfish__command_retry_timeout=0.5)
    redfish_session.CACHE.clear()
    yield config
    redfish_session.CACHE.clear()


def driver_info(**overrides):
    info = {"redfish_address": ADDRESS, "redfish_username": "admin",
            "redfish_password": PASSWORD, "redfish_system_id": "1"}
    info.update(overrides)
    return {k: v for k, v in info.items() if v is not None}


def make_task(**overrides):
    return StandaloneTask.for_driver("redfish", driver_info=driver_info(**overrides),
                                     name="u1")


class Response:
    def __init__(self, status, message="denied"):
        self.status_code = status
        self._body = {"error": {"code": "Base.1.0.GeneralError", "message": message}}

    def json(self):
        return self._body


class FakeSystem:
    def __init__(self, path, resets=("On", "ForceOff"), power="On"):
        self.path = path
        self.power_state = sushy.PowerState(power)
        self.boot = None
        self.resets = [sushy.ResetType(r) for r in resets]
        self.reset_calls = []

    def get_allowed_reset_system_values(self):
        return set(self.resets)

    def get_allowed_system_boot_source_values(self):
        return {sushy.BootSource.PXE, sushy.BootSource.HDD}

    def reset_system(self, value):
        self.reset_calls.append(value)


class FakeCollection:
    def __init__(self, paths):
        self.members_identities = tuple(paths)


class FakeClient:
    """What the driver uses of ``sushy.Sushy``; ``fail`` raises on every GET."""

    instances = []

    def __init__(self, systems=None, fail=None):
        self.systems = systems if systems is not None else {
            "/redfish/v1/Systems/1": FakeSystem("/redfish/v1/Systems/1")}
        self.fail = fail
        self.closed = False
        self._auth = None
        self._conn = None
        FakeClient.instances.append(self)

    def get_system_collection(self):
        if self.fail:
            raise self.fail
        return FakeCollection(self.systems)

    def get_system(self, path):
        if self.fail:
            raise self.fail
        if path not in self.systems:
            raise sushy_exc.ResourceNotFoundError("GET", ADDRESS + path, Response(404))
        return self.systems[path]


@pytest.fixture
def client(monkeypatch):
    """Every new connection gets this client; returns it for the test to shape."""
    FakeClient.instances = []
    made = FakeClient()
    connects = []

    def connect(info):
        connects.append(info)
        return made

    monkeypatch.setattr(redfish_session, "_connect", connect)
    monkeypatch.setattr(redfish_session, "close",
                        lambda c: setattr(c, "closed", True))
    made.connects = connects
    return made


# -- driver_info -------------------------------------------------------------------

@pytest.mark.parametrize("text, address, prefix", [
    ("10.0.0.5", "https://10.0.0.5", "/redfish/v1/"),
    ("BMC.example.com:8443", "https://bmc.example.com:8443", "/redfish/v1/"),
    ("http://10.0.0.5:80/redfish/v1/", "http://10.0.0.5", "/redfish/v1/"),
    ("https://10.0.0.5:443/custom/root", "https://10.0.0.5", "/custom/root/"),
    ("fe80::1", "https://[fe80::1]", "/redfish/v1/"),
    ("https://[2001:db8::1]:8000", "https://[2001:db8::1]:8000", "/redfish/v1/"),
])
def test_parse_address(text, address, prefix):
    parsed = redfish.parse_address(text)
    assert (parsed["address"], parsed["root_prefix"]) == (address, prefix)


@pytest.mark.parametrize("text, fragment", [
    ("ftp://10.0.0.5", "must use http or https"),
    ("https://10.0.0.5/?x=1", "must not have a query"),
    ("https://bad host", "must be http(s)://host[:port]"),
    ("https://10.0.0.5:99999", "must be http(s)://host[:port]"),
])
def test_parse_address_refuses(text, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        redfish.parse_address(text)


def test_invalid_driver_info_lists_every_problem_and_no_secret(tmp_path):
    task = make_task(redfish_address="https://admin:%s@bmc" % PASSWORD,
                     redfish_auth_type="kerberos",
                     redfish_verify_ca=str(tmp_path / "missing.pem"),
                     redfish_boot_mode="bios-ish")
    with pytest.raises(exception.InvalidParameterValue) as info:
        task.driver.management.validate(task)
    message = str(info.value)
    assert "redfish_address must not contain credentials" in message
    assert "redfish_auth_type" in message and "basic, session, auto" in message
    assert "redfish_verify_ca" in message and "path of a CA bundle" in message
    assert "redfish_boot_mode" in message
    assert PASSWORD not in message
    task = make_task(redfish_address=None)
    with pytest.raises(exception.MissingParameterValue, match="redfish_address"):
        task.driver.power.validate(task)


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("false", False), ("yes", True)])
def test_verify_ca_takes_booleans_and_words(value, expected):
    task = make_task(redfish_verify_ca=value)
    assert task.driver.power.parse_driver_info(task)["redfish_verify_ca"] is expected


def test_verify_ca_takes_a_bundle_path(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    task = make_task(redfish_verify_ca=str(bundle))
    assert task.driver.power.parse_driver_info(task)["redfish_verify_ca"] == str(bundle)
    assert make_task().driver.power.parse_driver_info(make_task())["redfish_verify_ca"] is True


def test_conductor_accepts_boolean_verify_ca_and_refuses_missing_bundle(database, tmp_path):
    manager = manager_mod.ConductorManager()
    ctx = hw_context.get_admin_context()
    node = manager.create_node(ctx, {"driver": "redfish", "name": "rf-node",
                                     "driver_info": driver_info(redfish_verify_ca=False)})
    assert node.driver_info["redfish_verify_ca"] is False
    with pytest.raises(exception.InvalidParameterValue, match="redfish_verify_ca"):
        manager.update_node(ctx, "rf-node", {
            "driver_info/redfish_verify_ca": str(tmp_path / "nope.pem")})
    assert manager.get_node(ctx, "rf-node").driver_info["redfish_verify_ca"] is False
    view = manager.node_view(manager.get_node(ctx, "rf-node"))
    assert PASSWORD not in repr(view)


def test_controller_key_is_the_bmc_without_credentials():
    assert make_task().driver.power.controller_key(make_task()) == "redfish:bmc.example.com"
    bad = make_task(redfish_address="https://admin:%s@bmc:1" % PASSWORD)
    assert PASSWORD not in bad.driver.power.controller_key(bad)


def test_missing_sushy_stops_startup(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "sushy" else real(name, *a))
    with pytest.raises(exception.ConfigInvalid) as info:
        redfish.RedfishPower().check_config()
    assert "pip install sushy" in str(info.value)
    assert info.value.option == "enabled_power_interfaces"


# -- systems and reset types ------------------------------------------------------------

def test_unsupported_reset_type(client):
    task = make_task()
    power = task.driver.power
    assert power.get_supported_power_states(task) == [PowerState.ON, PowerState.OFF]
    with pytest.raises(exception.InvalidPowerState, match="supported: power on, power off"):
        actions.set_power_state(task, PowerState.REBOOT)
    with pytest.raises(exception.DriverUnsupportedAction) as info:
        retry.run(task, power, power.reboot)
    assert ("allows no reset type for rebooting (ForceRestart or PowerCycle); it allows "
            "only the reset types: ForceOff, On") in str(info.value)
    assert "controller redfish:bmc.example.com" in str(info.value)
    assert client.systems["/redfish/v1/Systems/1"].reset_calls == []
    power.set_power_state(task, PowerState.OFF)
    assert client.systems["/redfish/v1/Systems/1"].reset_calls == [sushy.ResetType.FORCE_OFF]


def test_reboot_falls_back_to_power_cycle_and_off_system_is_powered_on(client):
    system = client.systems["/redfish/v1/Systems/1"]
    system.resets = [sushy.ResetType.ON, sushy.ResetType.POWER_CYCLE]
    task = make_task()
    task.driver.power.reboot(task)
    assert system.reset_calls == [sushy.ResetType.POWER_CYCLE]
    system.power_state = sushy.PowerState.OFF
    task.driver.power.reboot(task)
    assert system.reset_calls[-1] == sushy.ResetType.ON


@pytest.mark.parametrize("redfish_state, ours", [
    ("On", PowerState.ON), ("Off", PowerState.OFF), ("PoweringOn", PowerState.OFF),
    ("PoweringOff", PowerState.ON)])
def test_power_states_in_transition_report_what_they_leave(client, redfish_state, ours):
    client.systems["/redfish/v1/Systems/1"].power_state = sushy.PowerState(redfish_state)
    assert make_task().driver.power.get_power_state(make_task()) == ours


def test_no_system_on_the_bmc(client):
    client.systems.clear()
    task = make_task(redfish_system_id=None)
    with pytest.raises(exception.DriverSettingsError, match="has no ComputerSystem"):
        task.driver.power.get_power_state(task)


def test_several_systems_listed_by_id(client):
    client.systems.update({"/redfish/v1/Systems/System.Embedded.2": FakeSystem("x")})
    task = make_task(redfish_system_id=None)
    with pytest.raises(exception.DriverSettingsError) as info:
        task.driver.power.get_power_state(task)
    assert "2 systems (1, System.Embedded.2): set redfish_system_id" in str(info.value)


def test_unknown_system_id_lists_the_ids(client):
    task = make_task(redfish_system_id="7")
    with pytest.raises(exception.DriverSettingsError) as info:
        task.driver.power.get_power_state(task)
    assert "redfish_system_id '7' does not exist" in str(info.value)
    assert "valid ids: 1" in str(info.value)


# -- taxonomy ---------------------------------------------------------------------------

INFO = {"address": ADDRESS, "username": "admin", "password": PASSWORD,
        "auth_type": "auto"}


@pytest.mark.parametrize("error, cls, fragment", [
    (sushy_exc.AccessError("GET", ADDRESS, Response(401)), exception.DriverAuthError,
     "refused user 'admin' (HTTP 401)"),
    (sushy_exc.AccessError("GET", ADDRESS, Response(403)), exception.DriverAuthError,
     "check the user's privileges"),
    (sushy_exc.ServerSideError("POST", ADDRESS, Response(501, "nope")),
     exception.DriverUnsupportedAction, "HTTP 501: nope"),
    (sushy_exc.ServerSideError("POST", ADDRESS, Response(500, "busy")),
     exception.DriverActionError, "answered HTTP 500 (busy)"),
    (sushy_exc.BadRequestError("PATCH", ADDRESS, Response(400, "bad")),
     exception.DriverUnsupportedAction, "refused the request (HTTP 400: bad)"),
    (sushy_exc.ResourceNotFoundError("GET", ADDRESS, Response(404, "gone")),
     exception.DriverUnsupportedAction, "refused the request (HTTP 404: gone)"),
    (sushy_exc.HTTPError("PATCH", ADDRESS, Response(409, "busy")),
     exception.DriverActionError, "answered HTTP 409 (busy)"),
    (sushy_exc.ConnectionError(url=ADDRESS, error="[Errno 113] No route to host"),
     exception.DriverConnectionError, "cannot reach the Redfish service"),
    (sushy_exc.MissingActionError(action="#ComputerSystem.Reset", resource="x"),
     exception.DriverUnsupportedAction, "offers no such action"),
    (sushy_exc.MissingAttributeError(attribute="PowerState", resource="x"),
     exception.DriverActionError, "unexpected answer"),
])
def test_sushy_errors_map_to_the_taxonomy(error, cls, fragment):
    translated = redfish_session.translate(error, INFO, "reading the power state")
    assert type(translated) is cls
    assert fragment in str(translated)
    assert "while reading the power state" in str(translated)


def test_a_password_echoed_by_the_library_is_scrubbed():
    error = sushy_exc.ConnectionError(url="https://admin:%s@bmc" % PASSWORD,
                                      error="refused %s" % PASSWORD)
    translated = redfish_session.translate(error, INFO, "logging in")
    assert PASSWORD not in str(translated)
    assert "https://admin:******@bmc. Error: refused ******" in str(translated)
    assert params.redact("pw=%s" % PASSWORD, [PASSWORD]) == "pw=******"


def test_session_auth_hint():
    error = sushy_exc.AccessError("POST", ADDRESS, Response(401))
    translated = redfish_session.translate(error, dict(INFO, auth_type="session"), "x")
    assert "set redfish_auth_type=auto" in str(translated)


def test_connection_errors_are_retried_until_the_deadline_then_dropped(monkeypatch, caplog):
    caplog.set_level("DEBUG")
    attempts = []

    def connect(info):
        attempts.append(1)
        raise sushy_exc.ConnectionError(url=info["address"],
                                        error="[Errno 111] Connection refused")

    monkeypatch.setattr(redfish_session, "_connect", connect)
    task = make_task()
    with pytest.raises(exception.DriverConnectionError) as info:
        actions.get_power_state(task)
    assert len(attempts) >= 2 and "(after %d attempts)" % len(attempts) in str(info.value)
    assert "Connection refused" in str(info.value)
    assert len(redfish_session.CACHE) == 0
    assert PASSWORD not in caplog.text + str(info.value)


def test_auth_failure_drops_the_cached_client(client):
    task = make_task()
    task.driver.power.get_power_state(task)
    assert len(redfish_session.CACHE) == 1
    client.fail = sushy_exc.AccessError("GET", ADDRESS, Response(401))
    with pytest.raises(exception.DriverAuthError):
        task.driver.power.get_power_state(task)
    assert len(redfish_session.CACHE) == 0 and client.closed


# -- connection cache --------------------------------------------------------------------

def _info(user="admin", password=PASSWORD, address=ADDRESS):
    return {"address": address, "root_prefix": "/redfish/v1/", "username": user,
            "password": password, "verify": True, "auth_type": "auto"}


def test_cache_is_bounded_and_closes_what_falls_out(monkeypatch, redfish_config):
    redfish_config(redfish__connection_cache_size=2)
    made = []
    monkeypatch.setattr(redfish_session, "_connect",
                        lambda info: made.append(FakeClient()) or made[-1])
    monkeypatch.setattr(redfish_session, "close", lambda c: setattr(c, "closed", True))
    cache = redfish_session.ConnectionCache()
    first, _ = cache.acquire(_info("a"))
    cache.acquire(_info("b"))
    assert cache.acquire(_info("a")) == (first, True)  # a is now the most recent
    cache.acquire(_info("c"))  # evicts b
    assert len(cache) == 2 and made[1].closed and not made[0].closed
    assert [k[2] for k in cache.keys()] == ["a", "c"]
    assert all(PASSWORD not in repr(k) for k in cache.keys())


def test_changed_password_replaces_the_connection(monkeypatch):
    made = []
    monkeypatch.setattr(redfish_session, "_connect",
                        lambda info: made.append(FakeClient()) or made[-1])
    monkeypatch.setattr(redfish_session, "close", lambda c: setattr(c, "closed", True))
    cache = redfish_session.ConnectionCache()
    old, _ = cache.acquire(_info())
    new, cached = cache.acquire(_info(password="Another-Pw-9"))
    assert new is not old and cached and made[0].closed  # the cache keeps the new one
    assert cache.acquire(_info(password="Another-Pw-9")) == (new, True)


def test_cache_size_zero_logs_in_every_time(monkeypatch, redfish_config):
    redfish_config(redfish__connection_cache_size=0)
    made = []
    monkeypatch.setattr(redfish_session, "_connect",
                        lambda info: made.append(FakeClient()) or made[-1])
    monkeypatch.setattr(redfish_session, "close", lambda c: setattr(c, "closed", True))
    task = make_task()
    task.driver.power.get_power_state(task)
    task.driver.power.get_power_state(task)
    assert len(made) == 2 and all(c.closed for c in made)
    assert len(redfish_session.CACHE) == 0


def test_address_with_credentials_is_refused_at_create_without_echo(database, config):
    """Enrolment refuses https://user:pw@host and never repeats the password."""
    from hwdrivers.db import api as db_api

    manager = manager_mod.ConductorManager()
    with pytest.raises(exception.InvalidParameterValue) as info:
        manager.create_node(hw_context.get_admin_context(), {
            "driver": "redfish", "name": "leaky",
            "driver_info": {"redfish_address": "https://admin:Pa55word@10.0.0.9"}})
    assert "redfish_address must not contain credentials" in str(info.value)
    assert "Pa55word" not in str(info.value) and "Pa55word" not in repr(info.value.kwargs)
    assert db_api.list_nodes() == []


def test_request_timeouts_are_cut_to_what_the_call_has_left(redfish_config):
    redfish_config(redfish__connect_timeout=10.0, redfish__read_timeout=30.0,
                   redfish__command_timeout=60.0)
    assert redfish_session.request_timeout() == (10.0, 30.0)  # outside a call
    assert redfish_session.request_timeout(45) == (10.0, 45)  # what sushy asked for
    token = redfish_session._CALL_END.set(time.monotonic() + 5.0)
    try:
        connect, read = redfish_session.request_timeout()
        assert 4.0 < connect <= 5.0 and 4.0 < read <= 5.0
        assert redfish_session.request_timeout((2.0, 3.0)) == (2.0, 3.0)
        redfish_session._CALL_END.set(time.monotonic() - 0.1)
        with pytest.raises(sushy_exc.ConnectionError, match="command_timeout"):
            redfish_session.request_timeout()
    finally:
        redfish_session._CALL_END.reset(token)


def test_the_client_sends_every_request_through_the_bounded_connector(redfish_config):
    """sushy has no public hook for a per-call budget: check the wrapping of
    the installed sushy's Connector still applies to what it sends."""
    cls = redfish_session._connector_class()
    assert issubclass(cls, sushy.connector.Connector)
    assert "_op" in vars(cls) and hasattr(sushy.connector.Connector, "_op")


def test_only_errors_raised_inside_sushy_are_read_as_the_bmcs():
    """A TypeError/AttributeError from sushy's code means a document it could not
    read; one from ours is a bug, re-raised as such."""
    import sushy
    import sushy.utils

    try:
        sushy.utils.revert_dictionary(None)
    except AttributeError as exc:
        assert redfish_session._raised_in(sushy, exc)
    try:
        None.attribute  # noqa: B018 -- our own bug
    except AttributeError as exc:
        assert not redfish_session._raised_in(sushy, exc)
