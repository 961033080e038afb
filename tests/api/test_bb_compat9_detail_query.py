"""``?detail=`` on node and port listings needs API 1.43, as in Ironic.

Ironic's get_request_return_fields answers 400 "Invalid query parameter
?detail=..." below 1.43, where only ``/nodes/detail`` (``/ports/detail``)
lists every field; hwdrivers answered the detailed listing at any version.
"""

import pytest

from hwdrivers.api import microversions
from tests.api.conftest import error_of


@pytest.mark.parametrize("path", ["/v1/nodes", "/v1/ports", "/v1/nodes/dq/ports"])
def test_detail_below_1_43_is_400_and_from_1_43_is_served(api, make_node, path):
    make_node("dq")
    resp = api.get(path + "?detail=true", headers={microversions.HEADER: "1.42"})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "detail" in error_of(resp) and "1.43" in error_of(resp)
    assert api.get(path + "?detail=true",
                   headers={microversions.HEADER: "1.43"}).status_code == 200


def test_the_detail_path_serves_every_version(api, make_node):
    make_node("dq-path")
    resp = api.get("/v1/nodes/detail", headers={microversions.HEADER: "1.1"})
    assert resp.status_code == 200 and "driver_info" in resp.get_json()["nodes"][0]
