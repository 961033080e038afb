"""Power sync: a machine that keeps leaving its recorded state is not forced forever.

As Ironic's do_sync_power_state, each correction counts: a node found out of
its recorded state is put back at most power_state_sync_max_retries times in
a row; the next time the state found is recorded and the node goes to
maintenance (fault ``power failure``) saying what kept happening. Before,
every correction reset the count, so a machine that a thermal fault or
someone at the console switched off was powered back on every cycle,
indefinitely. A read that agrees still resets the count.
"""

from hwdrivers.common.states import PowerState
from hwdrivers.conductor import power_sync

from tests.unit.test_power_sync import bmc, make_nodes, row  # noqa: F401 (fixture)


def _switched_off_again(bmc, node, cycles, sync):  # noqa: F811
    for _ in range(cycles):
        bmc.state[node["uuid"]] = PowerState.OFF
        stats = sync.run_cycle()
    return stats


def test_corrections_stop_at_the_retry_limit(database, bmc, config):  # noqa: F811
    config(conductor__force_power_state_during_sync=True,
           conductor__power_state_sync_max_retries=2)
    node = make_nodes(1, power_state="power on")[0]
    sync = power_sync.PowerSync(concurrency=1)
    stats = _switched_off_again(bmc, node, 2, sync)
    assert stats.corrected == 1
    assert len(bmc.sets) == 2 and row(node)["maintenance"] is False

    stats = _switched_off_again(bmc, node, 1, sync)
    assert (stats.corrected, stats.to_maintenance) == (0, 1)
    assert len(bmc.sets) == 2  # not powered on a third time
    record = row(node)
    assert record["power_state"] == "power off"
    assert record["maintenance"] is True and record["fault"] == "power failure"
    assert "power_state_sync_max_retries = 2" in record["maintenance_reason"]
    assert "power off" in record["maintenance_reason"]


def test_a_read_that_agrees_resets_the_correction_count(database, bmc, config):  # noqa: F811
    config(conductor__force_power_state_during_sync=True,
           conductor__power_state_sync_max_retries=2)
    node = make_nodes(1, power_state="power on")[0]
    sync = power_sync.PowerSync(concurrency=1)
    for _ in range(3):
        _switched_off_again(bmc, node, 1, sync)  # corrected: on again
        sync.run_cycle()  # reads on: agrees
    assert len(bmc.sets) == 3
    assert row(node)["maintenance"] is False
    assert row(node)["power_sync_failures"] == 0
