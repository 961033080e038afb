"""snmp driver against the snmpsim PDU: driver_info an operator copies as shown.

Same setting as test_snmp.py (tests/fixtures/snmp_agent.py).
"""

import time

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor.controllers import ControllerLimiter
from hwdrivers.drivers import retry
from hwdrivers.drivers.task import StandaloneTask
from hwdrivers.testing.snmp_agent import ENGINE_ID, overlaps
from tests.functional import snmp_env


@pytest.fixture(autouse=True)
def snmp_config(config):
    return snmp_env.configure(config)


def _switch_and_read(info, outlet, target):
    task = StandaloneTask.for_driver("snmp", driver_info=info, name="n%d" % outlet)
    power = task.driver.power
    retry.run(task, power, power.set_power_state, target)
    return power.get_power_state(task)


@pytest.mark.parametrize("written", [
    ENGINE_ID,
    "0x" + ENGINE_ID.upper(),
    " ".join(ENGINE_ID[i:i + 2] for i in range(0, len(ENGINE_ID), 2)),  # as net-snmp shows it
    " " + ENGINE_ID + " ",
], ids=["plain", "0x-upper", "spaced-bytes", "padded"])
def test_v3_context_engine_id_as_the_pdu_shows_it_reaches_the_pdu(snmp_agent, written):
    """fromhex() accepted spaces, but the text went to pysnmp as written: the
    PDU got another engine ID and refused it as unknown."""
    info = snmp_agent.driver_info("apc", 21, version="3", snmp_context_engine_id=written)
    assert _switch_and_read(info, 21, PowerState.OFF) == PowerState.OFF
    assert _switch_and_read(info, 21, PowerState.ON) == PowerState.ON


@pytest.mark.parametrize("version", ["1", "2c"])
@pytest.mark.parametrize("left", ["0x", "not-hex", ENGINE_ID], ids=["0x", "not-hex", "valid"])
def test_v3_engine_id_left_on_a_v1_v2c_node_is_ignored(snmp_agent, version, left):
    """A v3 field kept after switching the node to v1/v2c (which carry no
    engine ID) failed every call with a bare ValueError naming no field."""
    info = snmp_agent.driver_info("apc", 22, version=version, snmp_context_engine_id=left)
    assert _switch_and_read(info, 22, PowerState.OFF) == PowerState.OFF
    assert _switch_and_read(info, 22, PowerState.ON) == PowerState.ON


# -- one queue per PDU, however its host name is written ---------------------------

SPELLINGS = ["localhost", "LocalHost", "LOCALHOST"]


def test_host_name_spellings_of_one_pdu_share_its_queue(snmp_agent, snmp_proxy,
                                                        snmp_config):
    """Nodes that wrote the PDU's name in another case (or with the root's
    dot) had a queue each, so their commands overlapped at the PDU."""
    snmp_config(snmp__timeout=2.0)  # no retransmission while a slow PDU answers
    keys = set()
    for spelling in SPELLINGS + ["localhost."]:
        task = StandaloneTask.for_driver("snmp", name="k", driver_info=(
            snmp_agent.driver_info("apc", 1, snmp_address=spelling)))
        keys.add(task.driver.power.controller_key(task))
    assert keys == {"snmp:localhost:%d" % snmp_agent.port}

    limiter = ControllerLimiter()
    for outlet in range(1, 7):  # start from off, straight to the agent
        _switch_and_read(snmp_agent.driver_info("apc", outlet), outlet, PowerState.OFF)
    with snmp_proxy(delay=0.05) as proxy:  # a slow PDU CPU: 50 ms per request
        tasks = [StandaloneTask.for_driver("snmp", name="n%d" % outlet, driver_info=(
            snmp_agent.driver_info("apc", outlet, port=proxy.port,
                                   snmp_address=SPELLINGS[outlet % len(SPELLINGS)])))
            for outlet in range(1, 7)]
        errors = snmp_env.switch_at_once(tasks, PowerState.ON, gate=limiter.slot)
        commands = proxy.commands(lambda oid: int(oid.rsplit(".", 1)[1]))
    assert not errors, errors
    assert sorted(commands) == list(range(1, 7))
    assert overlaps(commands) == [], commands


# -- Ironic nodes moved over unchanged ------------------------------------------------

def test_ironic_v3_node_with_snmp_security_switches_the_outlet(snmp_agent):
    """Ironic reads the user from snmp_security when snmp_user is absent
    (deprecated, still honoured); such a node was refused: snmp_user missing."""
    info = snmp_agent.driver_info("apc", 23, version="3")
    info["snmp_security"] = info.pop("snmp_user")
    assert _switch_and_read(info, 23, PowerState.OFF) == PowerState.OFF
    assert _switch_and_read(info, 23, PowerState.ON) == PowerState.ON
    # snmp_user wins when both are set, as in Ironic.
    info.update(snmp_user=info["snmp_security"], snmp_security="someone-else")
    assert _switch_and_read(info, 23, PowerState.OFF) == PowerState.OFF


def test_a_credential_pysnmp_cannot_encode_is_a_settings_error_without_it(snmp_agent):
    """Past validation (a node stored before it checked lengths), pyasn1's
    ValueConstraintError escaped with the whole key in its text."""
    from hwdrivers.drivers.modules import snmp as snmp_module

    info = snmp_module.parse(snmp_agent.driver_info("apc", 24, version="3"))
    key = "S3cr3t-" + "k" * 70000
    info["snmp_auth_key"] = key
    with snmp_module.session(info) as session:
        with pytest.raises(exception.DriverSettingsError) as raised:
            session.get(info["mib"].status(24))
    text = str(raised.value)
    assert "could not be encoded" in text and "snmp_auth_key" in text
    assert "S3cr3t" not in text and "kkkk" not in text


# -- a request cut off at command_timeout ---------------------------------------------

def test_a_request_cut_off_at_command_timeout_is_not_resent_later(udp_blackhole, snmp_agent,
                                                                  snmp_config):
    """The cut-off (for pysnmp timers running late) left the request inside
    the pooled engine: whoever borrowed it next resent the SET to the silent
    PDU, outside its queue, after the operator had the error."""
    from hwdrivers.drivers.modules import snmp as snmp_module

    # Resends that outlast command_timeout: what late timers amount to.
    snmp_config(snmp__timeout=0.2, snmp__retries=5, snmp__command_timeout=0.3)
    snmp_module._POOL.close_all()  # the next borrower gets the abandoned engine, if pooled
    silent = snmp_module.parse({
        "snmp_driver": "apc", "snmp_address": udp_blackhole.host,
        "snmp_port": udp_blackhole.port, "snmp_outlet": 1, "snmp_version": "2c",
        "snmp_community": "public"})
    with pytest.raises(exception.DriverConnectionError, match="command_timeout"):
        with snmp_module.session(silent) as snmp:
            snmp.set(*silent["mib"].control(1, PowerState.ON))
    sent = udp_blackhole.received
    # Other work on pooled engines, for longer than the abandoned resends take.
    other = snmp_module.parse(snmp_agent.driver_info("apc", 24))
    for _ in range(15):
        with snmp_module.session(other) as snmp:
            snmp.get(other["mib"].status(24))
        time.sleep(0.1)
    assert udp_blackhole.received == sent
