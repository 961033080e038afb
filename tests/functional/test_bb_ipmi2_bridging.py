"""Bridged requests reach a real BMC: OpenIPMI's ipmi_sim, with no controller behind it.

ipmi_sim is the BMC at 0x20 and nothing else sits on its IPMB, so a request
bridged to 0x72 comes back with completion code 0x83 (NAK on write) while the
same node unbridged reads its power state. ipmi_bridging was ignored (the
field was undeclared): the bridged node read the BMC's own power state, and
would have powered off whatever the BMC controls.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures import ipmi_sim as ipmi_sim_fixtures


@pytest.fixture(autouse=True)
def ipmi_config(config):
    ipmi_sim_fixtures.ipmitool_config(config, retry_timeout=0.0)


BRIDGES = {
    "single": {"ipmi_bridging": "single", "ipmi_target_channel": "0",
               "ipmi_target_address": "0x72"},
    "dual": {"ipmi_bridging": "dual", "ipmi_target_channel": "7",
             "ipmi_target_address": "0x72", "ipmi_transit_channel": "0",
             "ipmi_transit_address": "0x82", "ipmi_local_address": "0x20"},
}


def test_unbridged_node_reads_the_bmc(module_ipmi_sim):
    task = StandaloneTask.for_driver("ipmi", driver_info=module_ipmi_sim.driver_info(),
                                     name="chassis")
    assert actions.get_power_state(task).value in ("power on", "power off")


@pytest.mark.parametrize("bridge", sorted(BRIDGES))
def test_bridged_node_is_sent_on_to_its_target(module_ipmi_sim, bridge):
    task = StandaloneTask.for_driver(
        "ipmi", driver_info=module_ipmi_sim.driver_info(**BRIDGES[bridge]), name="blade")
    with pytest.raises(exception.DriverActionError) as caught:
        actions.get_power_state(task)
    message = str(caught.value)
    assert "(0x83)" in message, message
    assert "no controller at the bridged target (IPMB NAK): check ipmi_target_channel" \
        in message, message
