"""Provision targets are gated by API version, as Ironic's MIN_VERB_VERSIONS.

Ironic answers 406 to ``manage``/``provide`` below 1.4, ``inspect`` below
1.6, ``abort`` below 1.13, ``clean`` below 1.15 and ``deploy`` below 1.73
(``active``, ``deleted``, ``rebuild`` and, through a quirk of its table,
``undeploy`` are taken at every version). hwdrivers took every target at
every version, so a request with no version header (1.1) started an
inspection Ironic would have refused. The 406 names the version to send.
"""

import pytest

from hwdrivers.api import microversions
from tests.api.conftest import error_of, row


def _put(api, node, target, version):
    return api.put("/v1/nodes/%s/states/provision" % node, {"target": target},
                   headers={microversions.HEADER: version})


@pytest.mark.parametrize("target,below,added", [
    ("manage", "1.3", "1.4"), ("inspect", "1.5", "1.6"), ("deploy", "1.72", "1.73"),
])
def test_a_target_below_its_version_is_406_and_changes_nothing(api, make_node, target,
                                                               below, added):
    make_node("gate")  # enroll: the version is checked before the state, as Ironic
    state = row("gate")["provision_state"]
    resp = _put(api, "gate", target, below)
    assert resp.status_code == 406, resp.get_data(as_text=True)
    message = error_of(resp)
    assert target in message and added in message and microversions.HEADER in message
    assert row("gate")["provision_state"] == state and row("gate")["reservation"] is None


def test_1_1_the_version_without_a_header_refuses_manage(api, make_node):
    make_node("gate-none")
    resp = api.put("/v1/nodes/gate-none/states/provision", {"target": "manage"},
                   headers={microversions.HEADER: "1.1"})
    assert resp.status_code == 406
    assert row("gate-none")["provision_state"] == "enroll"


def test_from_its_version_a_target_is_taken(api, make_node):
    make_node("gate-ok")
    assert _put(api, "gate-ok", "manage", "1.4").status_code == 202


def test_undeploy_is_not_gated_as_in_ironic(api, make_node):
    make_node("gate-undeploy")
    resp = _put(api, "gate-undeploy", "undeploy", "1.1")
    assert resp.status_code == 400  # wrong state for it, not a version refusal
    assert "version" not in error_of(resp).lower()
