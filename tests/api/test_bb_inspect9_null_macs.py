"""Inspection and the MACs no NIC has: all zeros, broadcast, multicast.

BMCs report ``00:00:00:00:00:00`` for a disabled or unconfigured port (and a
ramdisk lists ``lo`` with it). It passed as a MAC: the first machine of a
fleet inspected got a port for it, and every later machine reporting it then
failed its inspection with "MAC ... is a port of node <first>"; the lookup
of an in-band post matched it too. Like a missing or malformed MAC, such an
address now gets no port, is looked up nowhere, and stays in the stored
inventory.
"""

import pytest

from tests.api.conftest import row
from tests.api import test_bb_inspect2_values as inspect2
from tests.api.test_bb_inspect2_values import GOOD, MAC, _inspect

#: The manageable node whose inspection waits for a post (shared with inspect2).
waiting = inspect2.waiting


@pytest.mark.parametrize("odd", ["00:00:00:00:00:00", "FF:FF:FF:FF:FF:FF",
                                 "01:00:5e:00:00:fb"])
def test_a_mac_no_nic_has_gets_no_port_and_fails_no_inspection(api, make_node, waiting,
                                                               config, odd):
    config(inspector__add_ports="all")
    # as a first machine's inspection made it, before
    other = make_node("bb9-other")
    resp = api.post("/v1/ports", {"address": odd, "node_uuid": other["uuid"]})
    assert resp.status_code == 201, resp.get_data(as_text=True)

    inventory = dict(GOOD, interfaces=[{"name": "eth0", "mac_address": MAC},
                                       {"name": "eno3", "mac_address": odd}])
    node = _inspect(api, waiting, {"inventory": inventory})
    assert node["provision_state"] == "manageable", node["last_error"]
    ports = api.get("/v1/ports?node=bb-insp&fields=address").get_json()["ports"]
    assert [p["address"] for p in ports] == [MAC]
    stored = api.get("/v1/nodes/bb-insp/inventory").get_json()["inventory"]
    assert stored["interfaces"][1] == {"name": "eno3", "mac_address": odd}
    assert row("bb-insp")["properties"]["cpus"] == 8
