"""Each clean step is not a new "provision state cleaning" event in the node's history.

The cleaning records which step runs (``clean_step_index``) through
cleaning.set_state, which also wrote the provision state and target again:
unchanged, they still counted as changed, and every save of them is a
history event ("provision state cleaning (target manageable)"). A manual
cleaning of three steps recorded that same line four times, an inspection
its "inspecting" twice; the history keeps ``[conductor]
node_history_max_entries`` events per node, so these duplicates pushed
out the errors an operator looks for. The state is written when it
changes; each transition is still recorded once.
"""

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import node_history
from hwdrivers.db import api as db_api
from tests.unit.conftest import replace_erase_devices

CTX = hw_context.get_admin_context()
STEP = {"interface": "deploy", "step": "erase_devices"}


def _events(ident):
    return [e["event"] for e in node_history.list_events(CTX, ident)[1]]


def test_a_manual_cleaning_of_three_steps_records_cleaning_once(manager):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "hc1"})
    manager.do_provisioning_action(CTX, "hc1", "manage")
    before = len(_events("hc1"))
    manager.do_provisioning_action(CTX, "hc1", "clean", clean_steps=[STEP, STEP, STEP])
    assert db_api.get_node(node.id)["provision_state"] == "manageable"
    assert _events("hc1")[before:] == ["provision state cleaning (target manageable)",
                                       "provision state manageable"]


def test_the_step_index_is_still_recorded(manager, monkeypatch):
    """What the index is for: the node shows the step running, 0 then 1."""
    seen = []

    def erase(self, task):
        seen.append(db_api.get_node(task.node.id)["driver_internal_info"]["clean_step_index"])
    replace_erase_devices(monkeypatch, erase)
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "hc2"})
    manager.do_provisioning_action(CTX, "hc2", "manage")
    manager.do_provisioning_action(CTX, "hc2", "clean", clean_steps=[STEP, STEP])
    assert seen == [0, 1]
