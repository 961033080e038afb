"""Aborting an inspection in ``inspect wait`` needs API 1.41, as in Ironic.

Ironic answers 406 to ``abort`` of a node in ``inspect wait`` below 1.41
(``allow_inspect_abort``); hwdrivers aborted it at any version from 1.13.
Aborting elsewhere (clean wait, deploy wait) keeps 1.13.
"""

from hwdrivers.api import microversions
from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row


def _waiting(make_node, name, state):
    make_node(name)
    db_api.update_node(row(name)["id"], {"provision_state": state,
                                         "target_provision_state": "manageable"})


def _abort(api, name, version):
    return api.put("/v1/nodes/%s/states/provision" % name, {"target": "abort"},
                   headers={microversions.HEADER: version})


def test_abort_of_inspect_wait_below_1_41_is_406_and_changes_nothing(api, make_node):
    _waiting(make_node, "ia", "inspect wait")
    resp = _abort(api, "ia", "1.40")
    assert resp.status_code == 406, resp.get_data(as_text=True)
    assert "1.41" in error_of(resp)
    assert row("ia")["provision_state"] == "inspect wait"


def test_abort_of_inspect_wait_at_1_41_is_taken(api, make_node):
    _waiting(make_node, "ia-ok", "inspect wait")
    assert _abort(api, "ia-ok", "1.41").status_code == 202


def test_abort_elsewhere_keeps_1_13(api, make_node):
    _waiting(make_node, "ia-clean", "clean wait")
    assert _abort(api, "ia-clean", "1.13").status_code == 202
