"""A port deleted through the API while its node is inspected does not fail the inspection.

Ports take no node lock, so an operator may delete one between the moment
inspection lists the node's ports and the moment it deletes (``[inspector]
keep_ports``) or updates (``update_pxe_enabled``) it; the PortNotFound
failed the whole inspection after the inventory had been read. The delete
here runs through the real API, at that moment.
"""

import pytest

from hwdrivers.conductor import inspection
from tests.api.test_bb_clean6_inspect_ports import ENROLLED, PXE, _inventory
from tests.api.test_bb_clean6_inspect_ports import inspect  # noqa: F401 (fixture)


@pytest.fixture
def delete_after_listing(api, monkeypatch):
    """Delete ENROLLED through the API right after _tidy_ports lists the node's ports."""
    listed, tidy = inspection.db_api.list_ports, inspection._tidy_ports
    armed = []

    def list_then_delete(**filters):
        ports = listed(**filters)
        for port in ports:
            if armed and port["address"] == ENROLLED:
                armed.clear()
                resp = api.delete("/v1/ports/%s" % port["uuid"])
                assert resp.status_code == 204, resp.get_data(as_text=True)
        return ports

    def armed_tidy(*args, **kwargs):
        armed.append(True)
        return tidy(*args, **kwargs)

    monkeypatch.setattr(inspection.db_api, "list_ports", list_then_delete)
    monkeypatch.setattr(inspection, "_tidy_ports", armed_tidy)
    return armed


@pytest.mark.parametrize("keep_ports", ["present", "all"])
def test_a_port_deleted_meanwhile_is_passed_over(inspect, delete_after_listing,  # noqa: F811
                                                 config, keep_ports):
    # present: inspection would delete ENROLLED; all: it would set its pxe_enabled
    config(inspector__keep_ports=keep_ports)
    assert inspect(_inventory()) == {PXE: True}
    assert not delete_after_listing, "the port was deleted after the listing"
