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
from hwdrivers.testing import processes
from hwdrivers.testing.ipmi_sim import IPMISimFixture, require_ipmi_sim


@pytest.fixture(autouse=True)
def ipmi_config(config):
    try:
        require_ipmi_sim()
    except processes.Unavailable as exc:
        pytest.skip(str(exc))
    config(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
           enabled_management_interfaces=["ipmitool"], ipmi__command_retry_timeout=0.0,
           ipmi__timeout=1, ipmi__retries=1)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with IPMISimFixture(directory=str(tmp_path_factory.mktemp("ipmi_sim"))) as fixture:
        yield fixture.sim


BRIDGES = {
    "single": {"ipmi_bridging": "single", "ipmi_target_channel": "0",
               "ipmi_target_address": "0x72"},
    "dual": {"ipmi_bridging": "dual", "ipmi_target_channel": "7",
             "ipmi_target_address": "0x72", "ipmi_transit_channel": "0",
             "ipmi_transit_address": "0x82", "ipmi_local_address": "0x20"},
}


def test_unbridged_node_reads_the_bmc(sim):
    task = StandaloneTask.for_driver("ipmi", driver_info=sim.driver_info(), name="chassis")
    assert actions.get_power_state(task).value in ("power on", "power off")


@pytest.mark.parametrize("bridge", sorted(BRIDGES))
def test_bridged_node_is_sent_on_to_its_target(sim, bridge):
    task = StandaloneTask.for_driver(
        "ipmi", driver_info=sim.driver_info(**BRIDGES[bridge]), name="blade")
    with pytest.raises(exception.DriverActionError) as caught:
        actions.get_power_state(task)
    message = str(caught.value)
    assert "(0x83)" in message, message
    assert "no controller at the bridged target (IPMB NAK): check ipmi_target_channel" \
        in message, message
