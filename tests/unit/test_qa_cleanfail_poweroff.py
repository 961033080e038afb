"""[conductor] poweroff_in_cleanfail probed: aborts, restarts, refusing BMCs."""

import pytest

from hwdrivers.common import exception
from hwdrivers.conductor import cleaning
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake
from tests.unit.test_bb_clean6_restart import CTX
from tests.unit.test_bb_clean6_restart import _die_mid_clean
from tests.unit.test_bb_clean6_restart import node  # noqa: F401 (fixture)


def _refuse(self, task, power_state, timeout=None):
    raise exception.DriverActionError("the BMC refused the power off")


def test_a_refused_power_off_after_a_restart_is_added_and_the_node_still_tidied(
        manager, node, config, monkeypatch):  # noqa: F811
    config(conductor__poweroff_in_cleanfail=True)
    manager.change_power_state(CTX, "cr6", "power on")
    _die_mid_clean(0)
    monkeypatch.setattr(fake.FakePower, "set_power_state", _refuse)
    assert cleaning.tidy_orphans(CTX) == [node.uuid]
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "clean failed" and record["maintenance"]
    assert record["last_error"].startswith("Cleaning interrupted while clean step")
    assert "poweroff_in_cleanfail" in record["last_error"]
    assert "the BMC refused the power off" in record["last_error"]
    assert record["power_state"] == "power on" and record["reservation"] is None


@pytest.mark.parametrize("power_off", [False, True])
def test_an_aborted_clean_wait_is_not_powered_off(manager, node, config, power_off):  # noqa: F811
    """As Ironic's do_node_clean_abort: an abort is no failure (its handler,
    and the power off, run only when the tear-down fails)."""
    config(conductor__poweroff_in_cleanfail=power_off)
    manager.change_power_state(CTX, "cr6", "power on")
    db_api.update_node(node.id, {"provision_state": "clean wait",
                                 "target_provision_state": "manageable"})
    manager.do_provisioning_action(CTX, "cr6", "abort")
    record = db_api.get_node(node.id)
    assert record["provision_state"] == "clean failed"
    assert record["power_state"] == "power on" and "aborted" in record["last_error"]
