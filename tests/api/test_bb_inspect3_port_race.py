"""A port deleted through the API while its node is inspected does not race the inspection.

Ports took no node lock, so an operator could delete one between the moment
inspection lists the node's ports and the moment it deletes (``[inspector]
keep_ports``) or updates (``update_pxe_enabled``) it; the PortNotFound
failed the whole inspection after the inventory had been read. Deleting a
port now takes its node's lock, as in Ironic: at that moment the API answers
409 naming the inspection, the port stays, and the inspection completes.
The delete runs through the real API, at that moment.
"""

import pytest

from hwdrivers.conductor import inspection
from tests.api.test_bb_clean6_inspect_ports import ENROLLED, PXE, _inventory
from tests.api.test_bb_clean6_inspect_ports import inspect  # noqa: F401 (fixture)


@pytest.fixture
def delete_after_listing(api, monkeypatch):
    """Delete ENROLLED through the API right after _tidy_ports lists the node's ports."""
    listed, tidy = inspection.db_api.list_ports, inspection._tidy_ports
    armed, refused = [], []

    def list_then_delete(**filters):
        ports = listed(**filters)
        for port in ports:
            if armed and port["address"] == ENROLLED:
                armed.clear()
                resp = api.delete("/v1/ports/%s" % port["uuid"])
                refused.append((resp.status_code, resp.get_data(as_text=True)))
        return ports

    def armed_tidy(*args, **kwargs):
        armed.append(True)
        return tidy(*args, **kwargs)

    monkeypatch.setattr(inspection.db_api, "list_ports", list_then_delete)
    monkeypatch.setattr(inspection, "_tidy_ports", armed_tidy)
    return refused


@pytest.mark.parametrize("keep_ports", ["present", "all"])
def test_a_port_delete_during_inspection_is_refused(inspect, delete_after_listing,  # noqa: F811
                                                   config, keep_ports):
    # present: inspection deletes ENROLLED itself; all: it sets its pxe_enabled
    config(inspector__keep_ports=keep_ports, api__node_locked_wait=0)
    expected = {PXE: True} if keep_ports == "present" else {PXE: True, ENROLLED: False}
    assert inspect(_inventory()) == expected
    [(status, body)] = delete_after_listing
    assert status == 409 and "locked" in body and "inspecting in progress" in body
