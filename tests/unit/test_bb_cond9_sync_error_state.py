"""Power sync: a BMC answering ``error`` is a failed read, as Ironic's PowerStateFailure.

Before, the sync took ``error`` for a state: with force_power_state_during_sync
it powered the machine on (or off) to match the record, and without it wrote
``error`` over the recorded state; the failure never counted toward maintenance.
"""

from hwdrivers.common.states import PowerState
from hwdrivers.conductor import power_sync

from tests.unit.test_power_sync import bmc, make_nodes, row  # noqa: F401 (fixture)


def test_error_read_is_a_failure_not_a_state_to_force(database, bmc, config):  # noqa: F811
    config(conductor__force_power_state_during_sync=True,
           conductor__power_state_sync_max_retries=1)
    node = make_nodes(1, power_state="power on")[0]
    bmc.state[node["uuid"]] = PowerState.ERROR
    stats = power_sync.PowerSync(concurrency=1).run_cycle()
    assert bmc.sets == []  # never powered on a machine whose BMC says error
    assert (stats.failed, stats.corrected, stats.to_maintenance) == (1, 0, 1)
    record = row(node)
    assert record["power_state"] == "power on"
    assert record["maintenance"] is True and record["fault"] == "power failure"
    assert "error" in record["maintenance_reason"]



def test_error_read_is_not_recorded_when_not_forcing(database, bmc, config):  # noqa: F811
    config(conductor__force_power_state_during_sync=False)
    node = make_nodes(1, power_state="power off")[0]
    bmc.state[node["uuid"]] = PowerState.ERROR
    stats = power_sync.PowerSync(concurrency=1).run_cycle()
    assert (stats.failed, stats.recorded) == (1, 0)
    assert row(node)["power_state"] == "power off"
    assert row(node)["power_sync_failures"] == 1

