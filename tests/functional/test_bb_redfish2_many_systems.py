"""redfish against a BMC with many systems: errors list a few ids, not all.

sushy-tools' emulator with 30 fake systems, as a virtual BMC serving a
lab's VMs has: a node without redfish_system_id, or with a wrong one, gets
an error naming 20 ids and how many more (last_error keeps it).
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from hwdrivers.testing.redfish_emulator import RedfishEmulatorFixture
from tests.functional import redfish_stub

SYSTEMS = {"vm-%02d" % n: ("7c1d%04d-0000-4000-8000-000000000000" % n, "Off")
           for n in range(30)}


@pytest.fixture(scope="module")
def crowded_emulator(tmp_path_factory):
    with RedfishEmulatorFixture(systems=SYSTEMS, directory=str(
            tmp_path_factory.mktemp("redfish-crowded"))) as fixture:
        yield fixture.emulator


@pytest.fixture(autouse=True)
def redfish_config(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=1.0):
        yield config


@pytest.mark.parametrize("system_id", [None, "no-such-vm"])
def test_an_error_lists_twenty_ids_and_how_many_more(crowded_emulator, system_id):
    info = crowded_emulator.driver_info(None)
    if system_id:
        info["redfish_system_id"] = system_id
    task = StandaloneTask.for_driver("redfish", info, name="crowded")
    with pytest.raises(exception.DriverSettingsError) as error:
        actions.get_power_state(task)
    message = str(error.value)
    ids = sorted(uuid for uuid, _state in SYSTEMS.values())
    assert ", ".join(ids[:20]) + ", and 10 more" in message
    assert ids[20] not in message and ids[-1] not in message
    assert len(message) < 1200
