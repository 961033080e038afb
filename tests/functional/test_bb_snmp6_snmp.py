"""snmp driver against the snmpsim PDU: driver_info an operator copies as shown.

Same setting as test_snmp.py (tests/fixtures/snmp_agent.py).
"""

import pytest

from hwdrivers.common.states import PowerState
from hwdrivers.drivers import retry
from hwdrivers.drivers.task import StandaloneTask
from hwdrivers.testing.snmp_agent import ENGINE_ID


@pytest.fixture(autouse=True)
def snmp_config(config):
    config(enabled_hardware_types=["snmp"], enabled_power_interfaces=["snmp"],
           enabled_management_interfaces=["noop"], snmp__reboot_delay=0.05,
           snmp__timeout=0.3, snmp__retries=1, snmp__command_retry_timeout=3.0,
           snmp__power_timeout=2.0)
    return config


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
