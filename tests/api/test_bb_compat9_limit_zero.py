"""``limit=0`` is a 400, as Ironic's validate_limit ("Limit must be positive").

hwdrivers read 0 as "no limit given" and answered a page of [api] max_limit
with a next link, where Ironic refuses it; Ironic's clients never send 0
(``baremetal node list --limit 0`` sends no limit and follows next links).
Every paginated listing shares the check.
"""

import pytest

from tests.api.conftest import error_of


@pytest.mark.parametrize("path", ["/v1/nodes", "/v1/nodes/detail", "/v1/ports",
                                  "/v1/conductors"])
@pytest.mark.parametrize("limit", ["0", "-3"])
def test_a_limit_that_is_not_positive_is_a_400(api, path, limit):
    resp = api.get(path + "?limit=" + limit)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "limit must be positive" in error_of(resp)


def test_a_positive_limit_still_pages(api, make_node):
    for name in ("lz1", "lz2"):
        make_node(name)
    resp = api.get("/v1/nodes?limit=1")
    assert resp.status_code == 200
    assert len(resp.get_json()["nodes"]) == 1 and "next" in resp.get_json()
