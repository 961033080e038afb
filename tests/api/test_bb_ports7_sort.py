"""Sorting ports by an Ironic sort key whose field hwdrivers does not store
(name, physical_network, is_smartnic...): Ironic sorts by the column, and
here every port has the same value, so the order is by id. It was a 400
("cannot sort ports by 'name'") for ``baremetal port list --sort name``."""

import pytest

from tests.api.conftest import error_of


@pytest.fixture
def port_uuids(api, make_node):
    node = make_node("p7-sort")
    uuids = []
    for i in range(3):
        resp = api.post("/v1/ports", {"node_uuid": node["uuid"],
                                      "address": "52:54:00:77:10:0%d" % (3 - i)})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        uuids.append(resp.get_json()["uuid"])
    return uuids


@pytest.mark.parametrize("key", ["name", "physical_network", "is_smartnic", "description",
                                 "vendor", "category"])
def test_unstored_sort_keys_sort_by_id(api, port_uuids, key):
    for direction, expected in (("asc", port_uuids), ("desc", port_uuids[::-1])):
        resp = api.get("/v1/ports?sort_key=%s&sort_dir=%s" % (key, direction))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert [p["uuid"] for p in resp.get_json()["ports"]] == expected


def test_pages_sorted_by_an_unstored_key(api, port_uuids):
    first = api.get("/v1/nodes/p7-sort/ports?sort_key=name&limit=2").get_json()
    assert [p["uuid"] for p in first["ports"]] == port_uuids[:2]
    rest = api.get("/v1/ports?sort_key=name&limit=2&marker=%s" % port_uuids[1]).get_json()
    assert [p["uuid"] for p in rest["ports"]] == port_uuids[2:]


def test_ironics_invalid_sort_keys_stay_refused(api, port_uuids):
    for key in ("extra", "local_link_connection", "internal_info", "node_uuid"):
        resp = api.get("/v1/ports?sort_key=%s" % key)
        assert resp.status_code == 400 and key in error_of(resp)
    old = api.get("/v1/ports?sort_key=name", headers={"X-OpenStack-Ironic-API-Version": "1.87"})
    assert old.status_code == 406 and "1.88" in error_of(old)
