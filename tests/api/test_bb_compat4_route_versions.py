"""Node history (1.78) and BIOS (1.40) are not found below their version, as Ironic.

Ironic's node controller answers 404 for ``/v1/nodes/<node>/history``
below 1.78 and ``/v1/nodes/<node>/bios`` below 1.40 (node.py's _lookup);
hwdrivers served both at every version, so a client pinned to an older
version saw documents it could not know. The ``/v1`` document shows the
conductors link from 1.49 only, as Ironic's versioned controllers. The
hwdrivers CLI asks for 1.78 for history (its other requests stay 1.56).
"""

import pytest

from hwdrivers.api import microversions
from hwdrivers.cli import http as cli_http
from tests.api.conftest import error_of

ROUTES = [("/v1/nodes/rv1/history", "1.78", "1.77"),
          ("/v1/nodes/rv1/bios", "1.40", "1.39")]


def _at(version):
    return {microversions.HEADER: version}


@pytest.mark.parametrize("path,added,before", ROUTES, ids=["history", "bios"])
def test_below_its_version_a_node_subresource_is_not_found(api, make_node, path, added,
                                                           before):
    make_node("rv1")
    for resp in (api.get(path, headers=_at(before)),
                 api.raw.get(path)):  # no header at all: the default, 1.1
        assert resp.status_code == 404, resp.get_data(as_text=True)
        message = error_of(resp)
        assert "it was added in %s" % added in message, message
        assert "%s: %s or later" % (microversions.HEADER, added) in message
    resp = api.get(path, headers=_at(added))
    assert resp.status_code == 200, resp.get_data(as_text=True)


@pytest.mark.parametrize("version,shown", [("1.48", False), ("1.49", True)])
def test_the_v1_document_links_conductors_from_1_49(api, version, shown):
    doc = api.get("/v1", headers=_at(version)).get_json()
    assert ("conductors" in doc) is shown
    assert {"nodes", "ports", "drivers"} <= set(doc)


def test_the_cli_asks_history_at_its_version():
    assert cli_http.HISTORY_API_VERSION == "1.78"
    assert microversions.parse(cli_http.HISTORY_API_VERSION) >= \
        microversions.ROUTE_VERSIONS["history"]
