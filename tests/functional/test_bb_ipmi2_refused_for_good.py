"""A BMC that refuses a command for good gets one try, not 30 s of them.

OpenIPMI's ipmi_sim without a chassis control script answers every chassis
control and boot parameter with completion code 0xcc ("Invalid data field
in request"), as BMCs without NMI, soft off or EFI boot flags answer those.
Such a refusal was an action error retried until [ipmi]
command_retry_timeout (30 s, here 3 s) for a command no retry could change;
Ironic fails it at once.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from hwdrivers.testing.ipmi_sim import PASSWORD
from tests.fixtures import ipmi_sim as ipmi_sim_fixtures


@pytest.fixture(autouse=True)
def ipmi_config(config):
    ipmi_sim_fixtures.ipmitool_config(config, retry_timeout=3.0)


@pytest.mark.parametrize("call, args, words", [
    (actions.inject_nmi, (), "injecting an NMI failed"),
    (actions.get_boot_device, (), "reading the boot device failed"),
    (actions.set_boot_device, ("pxe", True), "setting boot device pxe (persistent) failed"),
])
def test_refused_for_good_is_tried_once(module_ipmi_sim, call, args, words):
    task = StandaloneTask.for_driver("ipmi", driver_info=module_ipmi_sim.driver_info(), name="nmi")
    with pytest.raises(exception.DriverUnsupportedAction) as caught:
        call(task, *args)
    message = str(caught.value)
    assert words in message and "Invalid data field in request" in message, message
    assert "attempts" not in message, message  # no "(after N attempts)"
    assert "refuses this command or its options for good" in message
    assert PASSWORD not in message
