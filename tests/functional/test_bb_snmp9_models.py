"""snmp driver: the PDU models Ironic's snmp driver offers, moved over unchanged.

Ironic's ``snmp_driver`` also names Server Technology Sentry3 and Sentry4,
Raritan PDU2 and Vertiv Geist PDUs; a node using one of them was refused at
validation ("must be one of apc, ...") when moved over, although the docs
promise Ironic's names. Each is switched here against the snmpsim PDU
(tests/fixtures/snmp_agent.py), whose recording follows the model's MIB:
state read from another object than the one written.
"""

import pytest

from hwdrivers.common.states import PowerState
from hwdrivers.drivers.modules import snmp as snmp_module
from hwdrivers.drivers.modules import snmp_mibs
from hwdrivers.drivers.task import StandaloneTask
from tests.functional import snmp_env

IRONIC_MODELS = ["servertech_sentry3", "servertech_sentry4", "raritan_pdu2",
                 "vertivgeist_pdu"]


@pytest.fixture(autouse=True)
def snmp_config(config):
    return snmp_env.configure(config, snmp__reboot_delay=0)


@pytest.mark.parametrize("driver", IRONIC_MODELS)
def test_ironic_model_switches_its_outlet(snmp_agent, driver):
    task = StandaloneTask.for_driver(
        "snmp", driver_info=snmp_agent.driver_info(driver, 7), name="n-" + driver)
    power = task.driver.power
    power.validate(task)

    power.set_power_state(task, PowerState.ON)
    assert power.get_power_state(task) == PowerState.ON
    power.set_power_state(task, PowerState.OFF)
    assert power.get_power_state(task) == PowerState.OFF
    power.reboot(task)
    assert power.get_power_state(task) == PowerState.ON


@pytest.mark.parametrize("driver, outlet, on_oid, status_oid", [
    ("servertech_sentry3", 5, "1.3.6.1.4.1.1718.3.2.3.1.11.1.1.5",
     "1.3.6.1.4.1.1718.3.2.3.1.5.1.1.5"),
    ("servertech_sentry4", 5, "1.3.6.1.4.1.1718.4.1.8.5.1.2.1.1.5",
     "1.3.6.1.4.1.1718.4.1.8.5.1.1.1.1.5"),
    ("raritan_pdu2", 5, "1.3.6.1.4.1.13742.6.4.1.2.1.2.1.5",
     "1.3.6.1.4.1.13742.6.4.1.2.1.3.1.5"),
    ("vertivgeist_pdu", 5, "1.3.6.1.4.1.21239.5.2.3.5.1.6.5",
     "1.3.6.1.4.1.21239.5.2.3.5.1.4.5"),
])
def test_ironic_model_uses_ironics_objects(driver, outlet, on_oid, status_oid):
    """The OIDs Ironic's driver classes build, so a real PDU sees the same requests."""
    mib = snmp_mibs.DRIVERS[driver]
    assert mib.control(outlet, PowerState.ON)[0] == on_oid
    assert mib.control(outlet, PowerState.OFF)[0] == on_oid
    assert mib.status(outlet) == status_oid


@pytest.mark.parametrize("driver, on, off", [
    ("servertech_sentry3", (1, 2), (0, 3)),      # offWait still on, onWait still off
    ("servertech_sentry4", (11, 3, 9), (10, 2, 8)),
    ("raritan_pdu2", (7,), (8,)),
    ("vertivgeist_pdu", (1, 3), (2, 4)),
])
def test_ironic_model_reads_its_states(driver, on, off):
    info = snmp_module.parse({"snmp_driver": driver, "snmp_address": "pdu1",
                              "snmp_outlet": 1, "snmp_community": "c"})
    mib = info["mib"]
    assert [mib.state(v) for v in on] == [PowerState.ON] * len(on)
    assert [mib.state(v) for v in off] == [PowerState.OFF] * len(off)
