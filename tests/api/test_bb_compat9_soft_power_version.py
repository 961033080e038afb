"""Soft power actions and a power ``timeout`` need API 1.27, as in Ironic.

Ironic answers 406 to ``soft power off``, ``soft rebooting`` or any
``timeout`` below 1.27 (``allow_soft_power_off``); hwdrivers took them at
every version, on the Flask route and the fast path alike, so an old
client's request did what Ironic would have refused.
"""

import json

import pytest

from hwdrivers.api import microversions
from tests.api.conftest import error_of, row
from tests.api.test_fastpath import _same, apps  # noqa: F401 (apps: a fixture)

OLD = {microversions.HEADER: "1.26"}


@pytest.mark.parametrize("body,named", [
    ({"target": "soft power off"}, "soft power off"),
    ({"target": "soft rebooting"}, "soft rebooting"),
    ({"target": "power on", "timeout": 10}, "timeout"),
])
def test_below_1_27_is_406_and_changes_nothing(api, make_node, body, named):
    make_node("sp")
    resp = api.put("/v1/nodes/sp/states/power", body, headers=OLD)
    assert resp.status_code == 406, resp.get_data(as_text=True)
    assert named in error_of(resp) and "1.27" in error_of(resp)
    assert row("sp")["target_power_state"] is None


def test_the_fast_path_refuses_the_same(apps):  # noqa: F811
    status, _, body = _same(apps, "PUT", "/v1/nodes/fp-1/states/power", headers=OLD,
                            data=json.dumps({"target": "soft power off"}))
    assert status.startswith("406"), body


def test_plain_power_below_1_27_and_soft_at_1_27_are_taken(api, make_node):
    make_node("sp-ok")
    assert api.put("/v1/nodes/sp-ok/states/power", {"target": "power on"},
                   headers=OLD).status_code == 202
    make_node("sp-soft")
    assert api.put("/v1/nodes/sp-soft/states/power", {"target": "soft power off",
                                                      "timeout": 5},
                   headers={microversions.HEADER: "1.27"}).status_code == 202
