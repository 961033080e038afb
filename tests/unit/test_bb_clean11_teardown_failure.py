"""A tear-down that fails after every clean step succeeded is said as such.

Automated cleaning ran tear_down_cleaning with its plan still recorded,
the index on its last step: when the tear-down failed, the node went to
``clean failed`` looking as if that step had never finished, and the
conductor's tidy-up of interrupted cleanings then rewrote last_error to say
the step "was running" and held the node in maintenance with fault ``clean
failure``. The plan goes before the tear-down, and last_error says every
step succeeded and the tear-down failed. Also: provide's "provision state
cleaning" is one history event, not two.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import cleaning
from hwdrivers.conductor import node_history
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake

CTX = hw_context.get_admin_context()


def _manageable(manager, name):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": name})
    manager.do_provisioning_action(CTX, name, "manage")
    return node


def test_a_failing_tear_down_is_not_taken_for_an_unfinished_step(manager, monkeypatch):
    node = _manageable(manager, "td1")

    def tear_down_cleaning(self, task):
        raise exception.HWDriversError("the ramdisk's boot files could not be removed")
    monkeypatch.setattr(fake.FakeDeploy, "tear_down_cleaning", tear_down_cleaning,
                        raising=False)
    with pytest.raises(exception.HWDriversError):
        manager.do_provisioning_action(CTX, "td1", "provide")
    row = db_api.get_node(node.id)
    assert row["provision_state"] == "clean failed"
    assert "every cleaning step succeeded" in row["last_error"]
    assert "tear_down_cleaning of the fake deploy interface failed" in row["last_error"]
    assert "boot files could not be removed" in row["last_error"]
    assert cleaning.PLAN_KEY not in (row["driver_internal_info"] or {})

    assert cleaning.tidy_orphans(CTX) == []  # nothing interrupted to tidy
    row = db_api.get_node(node.id)
    assert (row["maintenance"], row["fault"]) == (False, None)
    assert "every cleaning step succeeded" in row["last_error"]


def test_provide_records_cleaning_once(manager):
    _manageable(manager, "td2")
    before = len(node_history.list_events(CTX, "td2")[1])
    manager.do_provisioning_action(CTX, "td2", "provide")
    events = [e["event"] for e in node_history.list_events(CTX, "td2")[1]][before:]
    assert events.count("provision state cleaning (target available)") == 1, events
