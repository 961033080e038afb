"""A power ``timeout`` sent as decimal text is taken, as Ironic's args.integer takes it.

Ironic reads ``timeout`` with ``int(value)``, so ``"30"`` is 30 seconds;
hwdrivers took JSON integers only and answered 400 to a script sending
the number as a string, on the Flask route and the fast path alike. Text
that is not a whole number stays a 400 naming the field.
"""

import json

import pytest

from tests.api.conftest import error_of, row
from tests.api.test_fastpath import _same, apps  # noqa: F401 (apps: a fixture)


def test_decimal_text_is_taken(api, make_node):
    make_node("pt")
    resp = api.put("/v1/nodes/pt/states/power", {"target": "power on", "timeout": "30"})
    assert resp.status_code == 202, resp.get_data(as_text=True)


def test_the_fast_path_takes_it_too(apps):  # noqa: F811
    status, _, body = _same(apps, "PUT", "/v1/nodes/fp-2/states/power",
                            data=json.dumps({"target": "power off", "timeout": " 5 "}))
    assert status.startswith("202"), body


@pytest.mark.parametrize("sent", ["abc", "1.5", "0", "-3", "", "٣"])
def test_other_text_is_a_400_naming_the_field(api, make_node, sent):
    make_node("pt-bad")
    resp = api.put("/v1/nodes/pt-bad/states/power", {"target": "power on", "timeout": sent})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "timeout" in error_of(resp)
    assert row("pt-bad")["target_power_state"] is None
