"""The node document's clean_step/deploy_step, and what a refused delete advises.

Ironic shows the step a cleaning or deploy is running in ``clean_step`` and
``deploy_step``; the conductor keeps the plan and its index in
driver_internal_info, and the document was always ``{}``. A delete refused
in a transient state told the operator to undeploy, which that state refuses.
"""

import pytest

from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row

CLEAN_PLAN = [{"interface": "bios", "step": "apply_configuration", "args": {}},
              {"interface": "management", "step": "clear_job_queue", "args": {}}]
DEPLOY_PLAN = [{"interface": "deploy", "step": "deploy", "priority": 100, "args": {}},
               {"interface": "deploy", "step": "write_image", "priority": 80, "args": {}}]


def _set(name, **values):
    db_api.update_node(row(name)["id"], values)


def test_the_running_steps_are_shown(api, make_node):
    make_node("steps")
    doc = api.get("/v1/nodes/steps").get_json()
    assert doc["clean_step"] == {} and doc["deploy_step"] == {}
    _set("steps", provision_state="cleaning", driver_internal_info={
        "clean_steps": CLEAN_PLAN, "clean_step_index": 1})
    doc = api.get("/v1/nodes/steps").get_json()
    assert doc["clean_step"] == CLEAN_PLAN[1] and doc["deploy_step"] == {}
    listed = api.get("/v1/nodes?fields=uuid,clean_step").get_json()["nodes"][0]
    assert listed["clean_step"] == CLEAN_PLAN[1]
    _set("steps", provision_state="deploying", driver_internal_info={
        "deploy_steps": DEPLOY_PLAN, "deploy_step_index": 0})
    doc = api.get("/v1/nodes/steps").get_json()
    assert doc["deploy_step"] == DEPLOY_PLAN[0] and doc["clean_step"] == {}


@pytest.mark.parametrize("info", [
    {"deploy_steps": DEPLOY_PLAN, "deploy_step_index": None},  # planned, not started
    {"deploy_steps": DEPLOY_PLAN, "deploy_step_index": 7},
    {"deploy_steps": "not a list", "deploy_step_index": 0},
    {"deploy_steps": ["not a step"], "deploy_step_index": 0},
])
def test_no_step_is_shown_without_one_running(api, make_node, info):
    make_node("nostep")
    _set("nostep", provision_state="deploying", driver_internal_info=info)
    assert api.get("/v1/nodes/nostep").get_json()["deploy_step"] == {}


@pytest.mark.parametrize("state, advice", [
    ("active", 'undeploy it (PUT .../states/provision {"target": "deleted"})'),
    ("wait call-back", 'undeploy it'),
    ("clean wait", 'abort it (PUT .../states/provision {"target": "abort"})'),
    ("inspect wait", "abort it"),
    ("cleaning", "wait until it leaves cleaning (the conductor is working on it)"),
    ("deploying", "wait until it leaves deploying"),
])
def test_a_refused_delete_says_what_the_state_allows(api, make_node, state, advice):
    make_node("busy")
    _set("busy", provision_state=state)
    resp = api.delete("/v1/nodes/busy")
    assert resp.status_code == 409, resp.get_data(as_text=True)
    message = error_of(resp)
    assert "provision state %s and cannot be deleted" % state in message
    assert advice in message and "or put it in maintenance first" in message
    assert row("busy") is not None
