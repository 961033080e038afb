"""Which version a request asks for when it names more than one, as Ironic reads it.

Ironic takes the version through microversion-parse: the baremetal entry
of the standard ``OpenStack-API-Version`` header first (the last such entry
when it lists several), ``X-OpenStack-Ironic-API-Version`` only without
one, and of a legacy header sent twice (folded, comma-separated) the last
value (an empty one: the default, 1.1). hwdrivers took the legacy header
first and refused a folded or empty one as an invalid version (406), so
the same request was served at another version than Ironic would serve
it, on the Flask app and the fast path alike.
"""

import pytest

from hwdrivers.api import microversions
from tests.api.conftest import error_of
from tests.api.test_fastpath import _same, apps  # noqa: F401 (apps: a fixture)

LEGACY, GENERIC = microversions.HEADER, microversions.GENERIC_HEADER


@pytest.mark.parametrize("headers,served", [
    ({LEGACY: "1.40", GENERIC: "baremetal 1.50"}, "1.50"),
    ({LEGACY: "1.40", GENERIC: "compute 2.1"}, "1.40"),
    ({GENERIC: "baremetal 1.31, compute 2.1, baremetal 1.45"}, "1.45"),
    ({LEGACY: "1.20, 1.30"}, "1.30"),
    ({LEGACY: ""}, "1.1"),
    ({LEGACY: "1.20, "}, "1.1"),
])
def test_the_version_served_is_the_one_ironic_would_serve(api, headers, served):
    resp = api.get("/v1/nodes", headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers[LEGACY] == served


def test_the_fast_path_reads_the_same_version(apps):  # noqa: F811
    status, headers, body = _same(apps, "GET", "/v1/nodes/fp-1/states",
                                  headers={LEGACY: "1.11", GENERIC: "baremetal 1.75"})
    assert status.startswith("200")
    assert (LEGACY, "1.75") in headers
    assert b"boot_mode" in body  # a 1.75 field


def test_an_invalid_standard_header_is_named_in_the_406(api):
    resp = api.raw.get("/v1/nodes", headers={GENERIC: "baremetal 1.x"})
    assert resp.status_code == 406
    assert GENERIC in error_of(resp) and "'1.x'" in error_of(resp)
