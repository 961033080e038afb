"""Node names as Ironic's logical names: any RFC 3986 unreserved character first.

Ironic (1.10+) takes names of letters, digits and ``-._~`` in any order;
hwdrivers refused names starting with ``-``, ``.``, ``_`` or ``~``, so a
fleet enrolled in Ironic with names like ``_spare-01`` could not be moved
over. ``.`` and ``..`` alone stay refused: HTTP clients read them as path
segments, so ``/v1/nodes/..`` never reaches the node.
"""

import pytest

from tests.api.conftest import error_of

NAMES = ["-dash", "_spare-01", "~tilde", ".dotted", "..two", "a.."]


@pytest.mark.parametrize("name", NAMES)
def test_a_name_may_start_with_any_unreserved_character(api, make_node, name):
    make_node(name)
    resp = api.get("/v1/nodes/" + name)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["name"] == name
    resp = api.patch("/v1/nodes/" + name, [{"op": "add", "path": "/extra/k", "value": 1}])
    assert resp.status_code == 200, resp.get_data(as_text=True)


@pytest.mark.parametrize("name", [".", ".."], ids=["dot", "dotdot"])
def test_dot_segments_are_refused_naming_why(api, name):
    resp = api.post("/v1/nodes", {"driver": "fake-hardware", "name": name})
    assert resp.status_code == 400
    assert "path segment" in error_of(resp) and "name" in error_of(resp)


@pytest.mark.parametrize("name", ["", "a b", "a/b", "x" * 256, "né"],
                         ids=["empty", "space", "slash", "long", "non-ascii"])
def test_other_characters_are_still_refused(api, name):
    resp = api.post("/v1/nodes", {"driver": "fake-hardware", "name": name})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "name" in error_of(resp)
