"""GET /v1/conductors/<hostname>?fields=...: the fields asked for, as Ironic.

The show accepted ``fields`` and ignored it (every field came back), while
the list honoured it; ``baremetal conductor show c1 --fields hostname alive``
sends it.
"""

from hwdrivers.db import api as db_api
from tests.api.conftest import error_of


def test_conductor_show_returns_the_fields_asked_for(api):
    db_api.register_conductor("c1", ["fake-hardware"], conductor_group="dc2")
    doc = api.get("/v1/conductors/c1?fields=hostname,alive").get_json()
    assert set(doc) == {"hostname", "alive", "links"}, doc
    assert doc["hostname"] == "c1" and doc["alive"] is True
    full = api.get("/v1/conductors/c1").get_json()
    assert {"conductor_group", "drivers", "created_at", "updated_at"} <= set(full)
    resp = api.get("/v1/conductors/c1?fields=colour")
    assert resp.status_code == 400 and "colour" in error_of(resp)
