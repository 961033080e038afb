"""One BMC is one queue however its host name is capitalised.

Host names are case-insensitive, but the ipmi controller key kept the
spelling of each node's ipmi_address: blades enrolled as ``CMM-1.lab`` and
``cmm-1.lab`` (from two inventories) got two queues for one chassis manager,
so ``[ipmi] max_concurrency`` allowed twice the calls it names. The redfish
key already lowercased the host.
"""

import pytest

from hwdrivers.drivers.task import StandaloneTask


@pytest.fixture(autouse=True)
def ipmi_config(config):
    config(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
           enabled_management_interfaces=["ipmitool"])


def key(address, port=623):
    task = StandaloneTask.for_driver("ipmi", name="k", driver_info={
        "ipmi_address": address, "ipmi_port": port, "ipmi_username": "admin"})
    return task.driver.power.controller_key(task), task.driver.management.controller_key(task)


def test_host_name_case_does_not_split_a_bmcs_queue():
    assert key("CMM-1.Lab") == key("cmm-1.lab") == ("ipmi:cmm-1.lab:623",) * 2
    assert key("2001:DB8::5", "6230") == ("ipmi:[2001:db8::5]:6230",) * 2
