"""snmp driver against the snmpsim PDU: refusals the agent reports.

Same setting as test_snmp.py (tests/fixtures/snmp_agent.py).
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import retry
from hwdrivers.drivers.task import StandaloneTask
from tests.functional import snmp_env


@pytest.fixture(autouse=True)
def snmp_config(config):
    return snmp_env.configure(config)


def test_wrong_v3_context_engine_id_is_a_settings_error_naming_it(snmp_agent):
    """The agent answers a Report PDU; the error said only its OID
    ("failed: 1.3.6.1.6.3.11.2.1.3.0") and was retried as a connection error."""
    info = snmp_agent.driver_info("apc", 7, version="3",
                                  snmp_context_engine_id="80001f8880e9630000d61ff449")
    task = StandaloneTask.for_driver("snmp", driver_info=info, name="n7")
    power = task.driver.power
    with pytest.raises(exception.DriverSettingsError) as raised:
        retry.run(task, power, power.set_power_state, PowerState.ON)
    text = str(raised.value)
    assert "attempts)" not in text  # refused, not retried to the deadline
    assert "snmpUnknownPDUHandlers" in text and "check snmp_context_engine_id" in text
    assert "Auth-Key" not in text and "Priv-Key" not in text
    # The right settings still work on the same (pooled) engine.
    good = StandaloneTask.for_driver(
        "snmp", driver_info=snmp_agent.driver_info("apc", 7, version="3"), name="n7")
    good.driver.power.set_power_state(good, PowerState.ON)
    assert good.driver.power.get_power_state(good) == PowerState.ON


@pytest.mark.parametrize("fields,kind,named", [
    ({"snmp_community_write": "Wrong-Write-77"}, "set", "check snmp_community_write"),
    ({"snmp_community_read": "Wrong-Read-77"}, "get", "check snmp_community_read"),
    ({"snmp_community_read": None, "snmp_community_write": None,
      "snmp_community": "Wrong-Both-77"}, "get", "check snmp_community ("),
])
def test_silent_agent_names_the_community_field_the_node_set(snmp_agent, config, fields,
                                                            kind, named):
    """With separate read and write communities, a wrong write community
    said "check snmp_community", a field the node does not have."""
    config(snmp__command_retry_timeout=0.1)
    info = {k: v for k, v in dict(snmp_agent.driver_info("apc", 8), **fields).items()
            if v is not None}
    task = StandaloneTask.for_driver("snmp", driver_info=info, name="n8")
    power = task.driver.power
    with pytest.raises(exception.DriverConnectionError) as raised:
        if kind == "set":
            retry.run(task, power, power.set_power_state, PowerState.ON)
        else:
            retry.run(task, power, power.get_power_state)
    assert named in str(raised.value)
    assert "Wrong-" not in str(raised.value)
