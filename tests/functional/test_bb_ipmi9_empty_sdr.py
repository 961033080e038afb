"""A BMC with no sensor records reads as no sensors, not as an error retried.

OpenIPMI's ipmi_sim here has an empty SDR repository: ipmitool answers the
first record's read with completion code 0xCB ("Requested sensor, data, or
record not found") and prints no sensor. get_sensors_data raised
DriverActionError "no sensor found", which the retry loop tried again until
the operation's deadline; Ironic reports such a BMC's sensors as none.
"""

import pytest

from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures import ipmi_sim as sim_fixture


@pytest.fixture
def sim(tmp_path):
    sim_fixture.require_ipmi_sim()
    started = sim_fixture.IPMISim(str(tmp_path / "sim")).start()
    yield started
    started.stop()


def test_no_sensor_records_is_no_sensors(sim, config):
    config(enabled_hardware_types=["ipmi"])
    task = StandaloneTask.for_driver("ipmi", sim.driver_info(), name="no-sdr")
    assert task.driver.management.get_sensors_data(task) == {}

