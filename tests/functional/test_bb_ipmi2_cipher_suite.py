"""A cipher suite the BMC does not offer is a settings error naming ipmi_cipher_suite.

OpenIPMI's ipmi_sim offers suite 3 only (ipmitool finds that out when
ipmi_cipher_suite is unset). Asked for 17, the BMC answers the Open Session
Request with a status ("invalid authentication algorithm"; others say "no
matching cipher suite", the case Ironic's documentation fixes with
ipmi_cipher_suite), which was a connection
error naming ipmi_address, ipmi_port and ipmi_protocol_version, retried for
[ipmi] command_retry_timeout.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.modules import ipmitool
from hwdrivers.drivers.task import StandaloneTask
from hwdrivers.testing.ipmi_sim import PASSWORD
from tests.fixtures import ipmi_sim as ipmi_sim_fixtures


@pytest.fixture(autouse=True)
def ipmi_config(config):
    ipmi_sim_fixtures.ipmitool_config(config, retry_timeout=3.0)


def test_cipher_suite_the_bmc_lacks_names_the_field(module_ipmi_sim):
    task = StandaloneTask.for_driver(
        "ipmi", driver_info=module_ipmi_sim.driver_info(ipmi_cipher_suite=17), name="cs")
    with pytest.raises(exception.DriverSettingsError) as caught:
        actions.get_power_state(task)
    message = str(caught.value)
    assert "the BMC refused cipher suite 17: set ipmi_cipher_suite" in message, message
    assert "attempts" not in message and PASSWORD not in message, message


@pytest.mark.parametrize("words", ["no matching cipher suite",
                                   "invalid authentication algorithm"])
def test_suite_chosen_by_ipmitool_and_refused_says_so(words):
    """Some BMCs negotiate a suite they then refuse (Ironic's documentation)."""
    stderr = ("Error in open session response message : %s\n"
              "Error: Unable to establish IPMI v2 / RMCP+ session\n" % words)
    cls, hint = ipmitool.classify(stderr, {"ipmi_cipher_suite": None})
    assert cls is exception.DriverSettingsError
    assert hint.startswith("the BMC refused cipher suite (ipmitool's choice): set "
                           "ipmi_cipher_suite"), hint


def test_the_suite_it_offers_works(module_ipmi_sim):
    task = StandaloneTask.for_driver("ipmi", driver_info=module_ipmi_sim.driver_info(), name="cs")
    assert actions.get_power_state(task).value in ("power on", "power off")
