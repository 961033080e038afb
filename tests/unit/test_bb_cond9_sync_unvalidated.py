"""Power sync: a node with no recorded power state whose driver_info does not validate.

As Ironic's do_sync_power_state (which returns 0 for it): such a node was just
enrolled and its credentials are still to come, so it is skipped, not counted
as a failure; before, every such node went to maintenance with fault
``power failure`` after power_state_sync_max_retries cycles.
"""

from hwdrivers.common import exception
from hwdrivers.conductor import power_sync
from hwdrivers.drivers.modules import fake

from tests.unit.test_power_sync import bmc, make_nodes, row  # noqa: F401 (fixture)


def test_unvalidated_node_without_a_state_is_left_alone(database, bmc, config,  # noqa: F811
                                                        monkeypatch):
    config(conductor__power_state_sync_max_retries=1)

    def refuse(self, task):
        raise exception.MissingParameterValue("fake_address is missing")

    monkeypatch.setattr(fake.FakePower, "validate", refuse)
    fresh, known = make_nodes(1, power_state=None) + make_nodes(1, power_state="power on")
    stats = power_sync.PowerSync(concurrency=1).run_cycle()
    assert row(fresh)["maintenance"] is False
    assert row(fresh)["power_sync_failures"] == 0
    # A node with a recorded state whose settings broke is still a failure.
    assert row(known)["maintenance"] is True
    assert (stats.failed, stats.skipped) == (1, 1)

