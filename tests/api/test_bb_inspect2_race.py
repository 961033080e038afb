"""Two nodes inspected at once that report one new MAC: one gets the port, the other nothing.

Each inspection checks the MACs first (none is another node's port yet),
then creates its ports. The other node's worker can create the same MAC's
port in between; here that moment is forced by creating it just before
this node's first port. The loser must fail as a MAC conflict does —
naming the other node, with its properties and ports unchanged — not
with "A port with address ... already exists" after writing half of it.
"""

from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import fake
from tests.api.conftest import row
from tests.waits import wait_for

GiB = 1024 ** 3
OWN, NEW1, NEW2 = "52:54:00:4d:00:01", "52:54:00:4d:00:02", "52:54:00:4d:00:03"


def test_a_mac_taken_by_another_node_meanwhile_changes_nothing(api, make_node, monkeypatch):
    monkeypatch.setattr(fake.FakeInspect, "inspect_hardware", lambda self, task: "inspect wait")
    node = make_node("loser", properties={"cpus": 2})
    make_node("winner")
    assert api.post("/v1/ports", {"address": OWN, "node_uuid": node["uuid"]}).status_code == 201
    api.put("/v1/nodes/loser/states/provision", {"target": "manage"})
    wait_for(lambda: row("loser")["provision_state"] == "manageable", message="manageable")
    api.put("/v1/nodes/loser/states/provision", {"target": "inspect"})
    wait_for(lambda: row("loser")["provision_state"] == "inspect wait", message="inspect wait")

    create_port = db_api.create_port

    def racing(values):
        if values["address"] == NEW1 and values["node_id"] == row("loser")["id"]:
            create_port({"address": NEW2, "node_id": row("winner")["id"]})  # the other worker
        return create_port(values)
    monkeypatch.setattr(db_api, "create_port", racing)

    resp = api.post("/v1/continue_inspection", {"inventory": {
        "interfaces": [{"name": "eth0", "mac_address": OWN},
                       {"name": "eth1", "mac_address": NEW1},
                       {"name": "eth2", "mac_address": NEW2}],
        "cpu": {"count": 64, "architecture": "x86_64"}}})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    failed = wait_for(lambda: (lambda r: r["provision_state"] == "inspect failed" and r)(
        row("loser")), message="inspect failed")
    assert "which is port" in failed["last_error"] and "of node winner" in failed["last_error"]
    assert "nothing was changed" in failed["last_error"]
    assert failed["properties"] == {"cpus": 2}
    assert [p["address"] for p in db_api.list_ports(node_id=failed["id"])] == [OWN]
    assert [p["address"] for p in db_api.list_ports(node_id=row("winner")["id"])] == [NEW2]
