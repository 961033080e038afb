"""Node list filters are refused below the API version that added them, as Ironic.

Ironic answers 406 to ``provision_state`` below 1.9, ``driver`` below 1.16,
``resource_class`` below 1.21, ``conductor_group`` below 1.46,
``conductor`` below 1.49, ``owner`` below 1.50, ``lessee`` below 1.65,
``shard``/``sharded`` below 1.82, ``include_children``/``parent_node``
below 1.83 and ``instance_name`` below 1.104 (its check_allow_filter_by_*),
even with an empty value. hwdrivers filtered at any version, so a client
pinned to an old version got answers Ironic never gives it.
"""

import pytest

from hwdrivers.api import microversions
from tests.api.conftest import error_of


def _list(api, query, version, path="/v1/nodes"):
    return api.get(path + "?" + query, headers={microversions.HEADER: version})


@pytest.mark.parametrize("query,below,added", [
    ("provision_state=enroll", "1.8", "1.9"),
    ("driver=fake-hardware", "1.15", "1.16"),
    ("resource_class=x", "1.20", "1.21"),
    ("conductor_group=", "1.45", "1.46"),
    ("owner=x", "1.49", "1.50"),
    ("lessee=x", "1.64", "1.65"),
    ("sharded=false", "1.81", "1.82"),
    ("include_children=true", "1.82", "1.83"),
    ("instance_name=x", "1.103", "1.104"),
])
def test_a_filter_below_its_version_is_406_and_from_it_is_answered(api, query, below,
                                                                   added):
    resp = _list(api, query, below)
    assert resp.status_code == 406, resp.get_data(as_text=True)
    message = error_of(resp)
    assert query.split("=")[0] in message and added in message
    assert _list(api, query, added).status_code == 200


def test_the_detail_listing_is_checked_too(api):
    assert _list(api, "driver=fake-hardware", "1.15", "/v1/nodes/detail").status_code == 406


def test_filters_of_every_version_stay_open(api, make_node):
    make_node("fv")
    resp = _list(api, "maintenance=false&associated=false", "1.1")
    assert resp.status_code == 200
    assert [n["uuid"] for n in resp.get_json()["nodes"]]
