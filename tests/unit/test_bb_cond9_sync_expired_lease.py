"""Power sync: a node behind an expired lease is counted and recovered like any other.

The sync reads nodes whose lease expired (a conductor died holding it: the
node is not locked), but counted their failures, reset their counts and took
them out of maintenance only when ``reservation IS NULL``: a dead BMC behind
a stale lease was read every cycle and never went to maintenance, and a
recovered one never left it.
"""

import datetime

from hwdrivers.common.states import PowerState
from hwdrivers.conductor import power_sync
from hwdrivers.db import api as db_api

from tests.unit.test_power_sync import bmc, make_nodes, row  # noqa: F401 (fixture)


def _plant_expired_lease(node):
    past = db_api.lease_clock_now() - datetime.timedelta(minutes=5)
    assert db_api.reserve_node(node["id"], "gone-host:1", past)



def test_failures_behind_an_expired_lease_are_counted(database, bmc, config):  # noqa: F811
    config(conductor__power_state_sync_max_retries=2)
    node = make_nodes(1)[0]
    _plant_expired_lease(node)
    bmc.broken.add(node["uuid"])
    sync = power_sync.PowerSync(concurrency=1)
    sync.run_cycle()
    assert row(node)["power_sync_failures"] == 1
    sync.run_cycle()
    assert row(node)["maintenance"] is True

    bmc.broken.clear()
    _plant_expired_lease(node)
    stats = sync.recover_failed_nodes()
    assert stats.recovered == 1
    assert row(node)["maintenance"] is False



def test_success_behind_an_expired_lease_resets_the_count(database, bmc):  # noqa: F811
    node = make_nodes(1)[0]
    bmc.state[node["uuid"]] = PowerState.ON
    db_api.update_node(node["id"], {"power_sync_failures": 2})
    _plant_expired_lease(node)
    power_sync.PowerSync(concurrency=1).run_cycle()
    assert row(node)["power_sync_failures"] == 0
