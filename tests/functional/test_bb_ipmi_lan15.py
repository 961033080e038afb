"""IPMI 1.5 (``ipmitool -I lan``) against OpenIPMI's ipmi_sim, which speaks it.

A wrong password over 1.5 gets no answer at all (the BMC drops an Activate
Session whose auth code does not verify), and ipmitool says only
"Activate Session command failed": the error said to check ipmi_address,
ipmi_port and ipmi_protocol_version, never the password.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures import ipmi_sim as ipmi_sim_fixtures

WRONG = "Wr0ng-15-pass"


@pytest.fixture(autouse=True)
def ipmi_config(config):
    ipmi_sim_fixtures.ipmitool_config(config, retry_timeout=0.0)


def task_for(ipmi_sim, **overrides):
    info = ipmi_sim.driver_info(ipmi_protocol_version="1.5", **overrides)
    del info["ipmi_cipher_suite"]  # 2.0 only
    return StandaloneTask.for_driver("ipmi", driver_info=info, name="lan15")


def test_power_status_over_ipmi_15(ipmi_sim):
    assert actions.get_power_state(task_for(ipmi_sim)).value in ("power on", "power off")


def test_wrong_password_over_ipmi_15_names_the_password(ipmi_sim):
    with pytest.raises(exception.DriverError) as info:
        actions.get_power_state(task_for(ipmi_sim, ipmi_password=WRONG))
    message = str(info.value)
    assert "check ipmi_password" in message, message
    assert WRONG not in message
