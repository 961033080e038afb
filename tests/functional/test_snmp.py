"""The snmp driver against snmpsim on 127.0.0.1 (tests/fixtures/snmp_agent.py).

Every vendor table and SNMP version switches real (emulated) outlets; the
error tests hit the agent with wrong outlets, communities and keys; and the
queueing test watches, from a proxy at the PDU side, that 8 concurrent
commands to 8 outlets of one PDU never overlap when gated by the
controller limiter, and do overlap without it.
"""

import threading
import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor.controllers import ControllerLimiter
from hwdrivers.db import api as db_api
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import snmp as snmp_module
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures.snmp_agent import V3_USERS, free_udp_port, overlaps
from tests.functional import snmp_env

DRIVERS = ["apc", "apc_masterswitchplus", "apc_rackpdu", "aten", "cyberpower",
           "eatonpower", "teltronix", "baytech_mrp27", "generic"]
APC_CTL = "1.3.6.1.4.1.318.1.1.4.4.2.1.3"
SECRETS = [key for _, key, _, priv in V3_USERS.values() for key in (key, priv) if key] + [
    "public", "private"]


@pytest.fixture(autouse=True)
def snmp_config(config):
    return snmp_env.configure(config, snmp__command_retry_timeout=1.0)


def make_task(driver_info, name="n1"):
    return StandaloneTask.for_driver("snmp", driver_info=driver_info, name=name)


def assert_no_secret(text, secrets=SECRETS):
    for secret in secrets:
        if secret in ("public", "private"):
            # Community names are secrets too, but short words can appear by
            # chance; look for them as quoted values.
            assert "'%s'" % secret not in text and '"%s"' % secret not in text, text
        else:
            assert secret not in text, text


# -- power on every vendor table and SNMP version ---------------------------------

@pytest.mark.parametrize("version", ["1", "2c", "3"])
@pytest.mark.parametrize("driver", DRIVERS)
def test_power_on_off_status_reboot(snmp_agent, driver, version):
    outlet = {"1": 2, "2c": 3, "3": 4}[version]
    task = make_task(snmp_agent.driver_info(driver, outlet, version=version))
    power = task.driver.power
    power.validate(task)

    power.set_power_state(task, PowerState.OFF)
    assert power.get_power_state(task) == PowerState.OFF
    power.set_power_state(task, PowerState.ON)
    assert power.get_power_state(task) == PowerState.ON
    power.set_power_state(task, "off")
    assert power.get_power_state(task) == PowerState.OFF
    power.reboot(task)
    assert power.get_power_state(task) == PowerState.ON
    power.set_power_state(task, PowerState.REBOOT)  # the same, through set_power_state
    assert power.get_power_state(task) == PowerState.ON


@pytest.mark.parametrize("user", ["legacy", "signer"])
def test_v3_other_protocols(snmp_agent, user):
    """MD5 + DES authPriv and SHA-256 authNoPriv users."""
    auth, auth_key, priv, priv_key = V3_USERS[user]
    info = snmp_agent.driver_info("apc", 5, version="3", snmp_user=user,
                                  snmp_auth_protocol=auth.lower(), snmp_auth_key=auth_key)
    del info["snmp_priv_protocol"], info["snmp_priv_key"]
    if priv_key:
        info.update(snmp_priv_protocol=priv.lower(), snmp_priv_key=priv_key)
    task = make_task(info)
    task.driver.power.set_power_state(task, PowerState.ON)
    assert task.driver.power.get_power_state(task) == PowerState.ON


def test_status_is_shared_across_communities_and_versions(snmp_agent):
    """One PDU: what v3 switched, v1 reads (the emulator keeps one state)."""
    v3 = make_task(snmp_agent.driver_info("apc_rackpdu", 6, version="3"))
    v1 = make_task(snmp_agent.driver_info("apc_rackpdu", 6, version="1",
                                          snmp_community="public",
                                          snmp_community_read=None,
                                          snmp_community_write=None))
    v3.driver.power.set_power_state(v3, PowerState.ON)
    assert v1.driver.power.get_power_state(v1) == PowerState.ON
    v1.driver.power.set_power_state(v1, PowerState.OFF)
    assert v3.driver.power.get_power_state(v3) == PowerState.OFF


def test_reboot_is_off_delay_on_at_the_pdu(snmp_agent, snmp_proxy, snmp_config):
    snmp_config(snmp__reboot_delay=5.0)  # overridden per node below
    with snmp_proxy() as proxy:
        task = make_task(snmp_agent.driver_info("apc", 7, port=proxy.port,
                                                snmp_reboot_delay=0.3))
        task.driver.power.reboot(task)
        assert task.driver.power.get_power_state(task) == PowerState.ON
        sets = [e for e in proxy.exchanges if e.oids == ("%s.7" % APC_CTL,)]
    # SET off, GET (reads off), SET on, GET (reads on), GET: on the outlet's OID.
    assert len(sets) == 5
    assert sets[2].arrived - sets[1].answered >= 0.3  # the per-node delay, not 5 s
    assert sets[2].arrived - sets[1].answered < 4.0


# -- errors against the real agent -----------------------------------------------

@pytest.mark.parametrize("version", ["1", "2c", "3"])
def test_outlet_out_of_range_is_a_settings_error(snmp_agent, version):
    task = make_task(snmp_agent.driver_info("apc", 99, version=version))
    power = task.driver.power
    for call, args in ((power.get_power_state, ()),
                       (power.set_power_state, (PowerState.ON,))):
        with pytest.raises(exception.DriverSettingsError) as info:
            retry.run(task, power, call, *args)
        message = str(info.value)
        assert "attempts)" not in message  # not retried (a retry says "after N attempts")
        assert "snmp_outlet=99" in message and "no outlet 99" in message
        assert "snmp:127.0.0.1:%d" % snmp_agent.port in message  # the controller
        assert_no_secret(message)


def test_wrong_community_times_out_and_says_check_community(snmp_agent):
    task = make_task(snmp_agent.driver_info("apc", 1, snmp_community_read="Not-The-One",
                                            snmp_community_write="Not-The-One"))
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as info:
        retry.run(task, task.driver.power, task.driver.power.get_power_state)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 0.6 + 1.0  # retry deadline + one request + slack
    message = str(info.value)
    assert "check snmp_community" in message and "after" in message  # retried
    assert "Not-The-One" not in message


def test_read_and_write_communities_are_used_for_reads_and_writes(snmp_agent):
    task = make_task(snmp_agent.driver_info("apc", 8, snmp_community_write="Not-The-One"))
    assert task.driver.power.get_power_state(task) in (PowerState.ON, PowerState.OFF)
    with pytest.raises(exception.DriverConnectionError) as info:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert "SET" in str(info.value) and "Not-The-One" not in str(info.value)


@pytest.mark.parametrize("field, value, expected", [
    ("snmp_auth_key", "Wrong-Auth-Key", "check snmp_auth_key"),
    ("snmp_priv_key", "Wrong-Priv-Key", "check snmp_priv_key"),
    ("snmp_user", "nobody", "check snmp_user"),
])
def test_v3_wrong_credentials_are_auth_errors(snmp_agent, field, value, expected):
    task = make_task(snmp_agent.driver_info("apc", 1, version="3", **{field: value}))
    with pytest.raises(exception.DriverAuthError) as info:
        retry.run(task, task.driver.power, task.driver.power.get_power_state)
    assert "attempts)" not in str(info.value)  # an auth error is not retried
    assert expected in str(info.value)
    assert_no_secret(str(info.value), SECRETS + ["Wrong-Auth-Key", "Wrong-Priv-Key"])


def test_v3_right_key_after_wrong_key_works(snmp_agent):
    """A fixed key takes effect at once (engines are kept per credential set)."""
    wrong = make_task(snmp_agent.driver_info("apc", 9, version="3",
                                             snmp_auth_key="Wrong-Auth-Key"))
    with pytest.raises(exception.DriverAuthError):
        wrong.driver.power.get_power_state(wrong)
    right = make_task(snmp_agent.driver_info("apc", 9, version="3"))
    assert right.driver.power.get_power_state(right) in (PowerState.ON, PowerState.OFF)


def test_closed_port_fails_within_the_deadline(snmp_agent):
    task = make_task(snmp_agent.driver_info("apc", 1, port=free_udp_port()))
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as info:
        retry.run(task, task.driver.power, task.driver.power.set_power_state,
                  PowerState.ON)
    assert time.monotonic() - started < 1.0 + 0.6 + 1.0
    assert "no answer from PDU" in str(info.value)
    assert "check snmp_address and snmp_port" in str(info.value)


def test_secrets_never_logged_or_raised(snmp_agent, caplog):
    caplog.set_level("DEBUG")
    failures = [
        snmp_agent.driver_info("apc", 99, version="3"),
        snmp_agent.driver_info("apc", 1, version="3", snmp_auth_key="Wrong-Auth-Key"),
        snmp_agent.driver_info("apc", 1, version="3", snmp_priv_key="Wrong-Priv-Key"),
        snmp_agent.driver_info("apc", 1, snmp_community_read="Not-The-One",
                               snmp_community_write="Not-The-One"),
        snmp_agent.driver_info("apc", 1, version="3", snmp_auth_key="short"),
    ]
    messages = []
    for info in failures:
        task = make_task(info)
        with pytest.raises(exception.HWDriversError) as raised:
            retry.run(task, task.driver.power, task.driver.power.set_power_state,
                      PowerState.ON)
        messages.append("%s %r" % (raised.value, raised.value))
    ok = make_task(snmp_agent.driver_info("apc", 10, version="3"))
    ok.driver.power.reboot(ok)
    text = "\n".join(messages) + caplog.text
    assert_no_secret(text, SECRETS + ["Wrong-Auth-Key", "Wrong-Priv-Key", "Not-The-One",
                                      "short"])


# -- one queue per PDU, proven at the PDU ------------------------------------------

def _outlet(oid):
    return int(oid.rsplit(".", 1)[1])


def _eight_outlets(snmp_agent, proxy, gate):
    """8 threads switch outlets 11..18 of one PDU on at once, through ``proxy``.

    Returns ``{outlet: (first request arrival, last answer)}`` as the PDU
    side saw them.
    """
    for outlet in range(11, 19):  # start from off, straight to the agent
        task = make_task(snmp_agent.driver_info("apc", outlet))
        task.driver.power.set_power_state(task, PowerState.OFF)
    tasks = [make_task(snmp_agent.driver_info("apc", outlet, port=proxy.port),
                       name="n%d" % outlet) for outlet in range(11, 19)]
    errors = snmp_env.switch_at_once(tasks, PowerState.ON, gate=gate)
    assert not errors, errors
    commands = proxy.commands(_outlet)
    for outlet in range(11, 19):  # read back straight from the agent
        task = make_task(snmp_agent.driver_info("apc", outlet))
        assert task.driver.power.get_power_state(task) == PowerState.ON
    return tasks, commands


def _warm_engines(snmp_agent):
    """Pool 8 engines, so no thread spends its start creating one (~0.1 s CPU)."""
    tasks = [make_task(snmp_agent.driver_info("apc", 11)) for _ in range(8)]
    threads = [threading.Thread(target=t.driver.power.get_power_state, args=(t,))
               for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_eight_outlets_of_one_pdu_never_overlap_at_the_pdu(snmp_agent, snmp_proxy,
                                                            snmp_config):
    snmp_config(snmp__timeout=2.0)  # no retransmission while a slow PDU answers
    limiter = ControllerLimiter()
    _warm_engines(snmp_agent)
    with snmp_proxy(delay=0.05) as proxy:  # a slow PDU CPU: 50 ms per request
        tasks, commands = _eight_outlets(snmp_agent, proxy, gate=limiter.slot)
        requests = list(proxy.exchanges)
    assert sorted(commands) == list(range(11, 19))
    assert len(requests) >= 16  # each command: SET, then GET to read the state back
    assert all(e.answered for e in requests)
    assert overlaps(commands) == [], commands
    # The limiter agrees, but the proof above is what the PDU saw.
    key = tasks[0].driver.power.controller_key(tasks[0])
    assert key == "snmp:127.0.0.1:%d" % proxy.port
    assert limiter.peak(key) == 1


def test_without_the_gate_the_pdu_sees_overlapping_commands(snmp_agent, snmp_proxy,
                                                             snmp_config):
    """The same commands ungated overlap at the PDU, so the test above can fail."""
    snmp_config(snmp__timeout=2.0)
    _warm_engines(snmp_agent)
    with snmp_proxy(delay=0.05) as proxy:
        _, commands = _eight_outlets(snmp_agent, proxy, gate=None)
    assert sorted(commands) == list(range(11, 19))
    assert overlaps(commands), commands


def test_engine_pool_survives_many_threads(snmp_agent, snmp_config):
    """32 threads x 3 calls through the shared engine pool, all answered right.

    Each thread owns its outlet (24 CyberPower, then APC ones), so the last
    state read back is only ever its own. The module's 0.3 s timeout suits
    one call at a time; 32 threads on a loaded 2-core machine can keep the
    simulator busier than that, so this test waits as long as a PDU might.
    """
    snmp_config(snmp__timeout=2.0, snmp__retries=2, snmp__command_timeout=10.0,
                snmp__command_retry_timeout=20.0,
                snmp__power_timeout=20.0)
    errors = []

    def work(driver, outlet):
        try:
            task = make_task(snmp_agent.driver_info(driver, outlet,
                                                    version="3" if outlet % 2 else "2c"))
            for state in (PowerState.ON, PowerState.OFF, PowerState.ON):
                task.driver.power.set_power_state(task, state)
            assert task.driver.power.get_power_state(task) == PowerState.ON
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(("cyberpower", "apc")[n // 24], 1 + n % 24))
               for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert snmp_module._POOL._count <= snmp_module._POOL.max_idle


# -- deadlines ---------------------------------------------------------------------------

def test_conductor_records_the_error_within_the_deadline(udp_blackhole, snmp_config,
                                                         sqlite_database):
    """A PDU that takes every datagram and never answers: one power change
    ends with its error recorded within command_retry_timeout +
    command_timeout + SLACK (before: a retry started at the deadline, and the
    read-back after the failure retried for the whole timeout again)."""
    retry_timeout, command_timeout = 6.0, 1.5
    # One request waits timeout * (retries + 1) = 1 s, within command_timeout.
    snmp_config(snmp__command_retry_timeout=retry_timeout, snmp__timeout=0.5,
                snmp__retries=1, snmp__command_timeout=command_timeout)
    manager = manager_mod.ConductorManager()
    context = hw_context.get_admin_context()
    node = manager.create_node(context, {"driver": "snmp", "name": "silent-pdu",
                                         "driver_info": {
        "snmp_driver": "apc", "snmp_address": udp_blackhole.host,
        "snmp_port": udp_blackhole.port, "snmp_outlet": 3, "snmp_version": "2c",
        "snmp_community": "Pdu-Secret-Community"}})
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as error:
        manager.change_power_state(context, "silent-pdu", "power on")
    elapsed = time.monotonic() - started
    record = db_api.get_node(node.id)
    assert record["last_error"] == str(error.value)
    assert "node silent-pdu" in record["last_error"] and "no answer" in record["last_error"]
    assert "Pdu-Secret-Community" not in record["last_error"]
    assert record["power_state"] == PowerState.ERROR.value
    assert udp_blackhole.received >= 2  # it was asked, more than once
    bound = retry_timeout + command_timeout + retry.SLACK
    print("error recorded after %.1fs (bound %.1fs)" % (elapsed, bound))
    assert elapsed < bound + 3.0  # what a loaded machine may add


def test_a_request_is_cut_off_at_command_timeout(udp_blackhole, snmp_config):
    """pysnmp's own resends are bounded by timeout * (retries + 1); the request
    as a whole is also cut off at command_timeout (here the smaller)."""
    snmp_config(snmp__timeout=5.0, snmp__retries=0, snmp__command_timeout=0.5)
    info = snmp_module.parse({"snmp_driver": "apc", "snmp_address": udp_blackhole.host,
                              "snmp_port": udp_blackhole.port, "snmp_outlet": 1,
                              "snmp_community": "public"})
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as error:
        with snmp_module.session(info) as snmp:
            snmp.get(info["mib"].status(1))
    assert time.monotonic() - started < 0.5 + 1.5
    assert "within [snmp] command_timeout (0.5s)" in str(error.value)
    # The next request on a pooled engine is not confused by the abandoned one.
    with pytest.raises(exception.DriverConnectionError):
        with snmp_module.session(info) as snmp:
            snmp.get(info["mib"].status(1))


def test_resends_that_outlast_command_timeout_are_refused_at_start(snmp_config):
    snmp_config(snmp__timeout=2.0, snmp__retries=2, snmp__command_timeout=5.0)
    with pytest.raises(exception.ConfigInvalid) as error:
        snmp_module.SNMPPower().check_config()
    assert error.value.option == "command_timeout"
    assert "timeout * (retries + 1) = 6.0s" in str(error.value)
    snmp_config(snmp__command_timeout=6.0)
    snmp_module.SNMPPower().check_config()


@pytest.mark.parametrize("community", ["PDU", "a"])
def test_a_community_that_is_a_word_of_the_message_is_not_shown_by_masking(
        snmp_agent, community):
    """Our own words are never masked: masking "PDU" in "no answer from PDU ..."
    (or every "a") would tell the reader the community."""
    task = make_task(snmp_agent.driver_info("apc", 1, port=free_udp_port(),
                                            snmp_community_read=community,
                                            snmp_community_write=community))
    with pytest.raises(exception.DriverConnectionError) as info:
        retry.run(task, task.driver.power, task.driver.power.set_power_state,
                  PowerState.ON)
    message = str(info.value)
    assert "no answer from PDU 127.0.0.1:" in message and "******" not in message, message
    assert "check snmp_address and snmp_port, that the PDU is up" in message
