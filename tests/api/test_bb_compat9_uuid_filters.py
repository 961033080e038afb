"""``instance_uuid`` and ``chassis_uuid`` filters must be UUIDs, as in Ironic.

Ironic validates both with args.uuid (400 "Expected UUID for
instance_uuid"); hwdrivers answered an empty list for any value, so a
mistyped instance UUID read as "no node runs that instance". A UUID still
matches no node (hwdrivers stores neither field).
"""

import pytest

from tests.api.conftest import error_of


@pytest.mark.parametrize("name", ["instance_uuid", "chassis_uuid"])
@pytest.mark.parametrize("value", ["bad", "", "1234-5678"])
def test_a_value_that_is_not_a_uuid_is_a_400_naming_the_parameter(api, name, value):
    resp = api.get("/v1/nodes?%s=%s" % (name, value))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert name in error_of(resp) and "UUID" in error_of(resp)


@pytest.mark.parametrize("name", ["instance_uuid", "chassis_uuid"])
def test_a_uuid_matches_no_node(api, make_node, name):
    make_node("uf")
    resp = api.get("/v1/nodes/detail?%s=6f6125ee-2c21-4c46-8e72-38e43bcfea5c" % name)
    assert resp.status_code == 200 and resp.get_json()["nodes"] == []
