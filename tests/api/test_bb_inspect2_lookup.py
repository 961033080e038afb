"""The ramdisk's lookups with nothing to look up by: a 400 saying so, as Ironic.

``GET /v1/lookup`` and ``POST /v1/continue_inspection`` find the node by
the MAC addresses the machine sends (or ``node_uuid``). Sent none that is a
MAC, they answered 404 "no node has a port with MAC address ..." quoting
everything sent back, as if the machine were merely not enrolled.
"""

from tests.api.conftest import error_of


def test_lookup_with_no_mac_address_is_a_400_that_quotes_nothing(api):
    junk = "x" * 4000
    resp = api.get("/v1/lookup?addresses=%s,%s" % (junk, "Not%20Available"))
    assert resp.status_code == 400
    message = error_of(resp)
    assert "addresses" in message and "none of those sent is a MAC address" in message
    assert junk[:40] not in message and len(message) < 300


def test_lookup_leaves_out_what_is_not_a_mac(api, make_node, caplog):
    """An InfiniBand address next to the port's MAC does not hide the node."""
    node = make_node("lk")
    assert api.post("/v1/ports", {"address": "52:54:00:3c:00:01",
                                  "node_uuid": node["uuid"]}).status_code == 201
    ib = "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0e:a6:a1"
    with caplog.at_level("WARNING", logger="hwdrivers.api.ramdisk"):
        resp = api.get("/v1/lookup?addresses=%s,52:54:00:3C:00:01" % ib)
    assert resp.status_code == 404  # found, but not waiting for an agent: the log says so
    assert "Node lk is in provision state 'enroll'" in caplog.text
    assert "Node lk" not in error_of(resp) and "'enroll'" not in error_of(resp)


def test_unauthenticated_callers_cannot_map_addresses_to_nodes(api, make_node, caplog):
    """Lookup and inspection data answer anyone: which node a MAC (or a node_uuid
    guess) belongs to, and its state, go to the API's log only, as Ironic's bare 404."""
    node = make_node("secretname")
    mac = "52:54:00:3c:00:07"
    assert api.post("/v1/ports", {"address": mac, "node_uuid": node["uuid"]}).status_code == 201
    inventory = {"inventory": {"interfaces": [{"name": "eth0", "mac_address": mac}]}}
    with caplog.at_level("WARNING", logger="hwdrivers.api.ramdisk"):
        answers = [api.get("/v1/lookup?addresses=" + mac),
                   api.get("/v1/lookup?node_uuid=secretname"),
                   api.post("/v1/continue_inspection", inventory),
                   api.post("/v1/continue_inspection?node_uuid=" + node["uuid"], inventory)]
    unknown = api.get("/v1/lookup?addresses=52:54:00:3c:00:08")  # no such port at all
    for resp in answers:
        assert resp.status_code == 404
        message = error_of(resp)
        assert message.startswith("No node is waiting for this ")
        assert "secretname" not in message and node["uuid"] not in message
        assert "'enroll'" not in message and " is enroll" not in message
    # an enrolled MAC and one nobody has get the same answer
    assert error_of(answers[0]) == error_of(unknown)
    said = [r.getMessage() for r in caplog.records if r.name == "hwdrivers.api.ramdisk"]
    assert len(said) == 5 and all("secretname" in line for line in said[:4])


def test_inspection_data_with_no_mac_and_no_node_uuid_is_a_400(api):
    resp = api.post("/v1/continue_inspection", {"inventory": {"interfaces": [
        {"name": "ib0", "mac_address": "Not Available"}, {"name": "eth0", "mac_address": ""}]}})
    assert resp.status_code == 400
    message = error_of(resp)
    assert "mac_address" in message and "node_uuid" in message


def test_inspection_data_with_thousands_of_nics_is_refused_before_any_lookup(api, make_node):
    """15,000 MACs held the unauthenticated call 5 s (a query each) and made 15,000 ports."""
    node = make_node("many")
    mac = "52:54:00:3c:00:09"
    assert api.post("/v1/ports", {"address": mac, "node_uuid": node["uuid"]}).status_code == 201
    nics = [{"name": "v%d" % i, "mac_address": "02:00:00:00:%02x:%02x" % (i >> 8, i & 255)}
            for i in range(257)] + [{"name": "eth0", "mac_address": mac}]
    resp = api.post("/v1/continue_inspection", {"inventory": {"interfaces": nics}})
    assert resp.status_code == 400
    assert "inventory.interfaces lists 258 NICs; at most 256" in error_of(resp)
    # 256 is fine: found by the last MAC, refused only because the node is not waiting
    resp = api.post("/v1/continue_inspection", {"inventory": {"interfaces": nics[-256:]}})
    assert resp.status_code == 404 and "No node is waiting" in error_of(resp)


def test_heartbeat_fields_of_the_wrong_type_are_a_400_naming_them(api, make_node):
    """Ironic's heartbeat takes strings; agent_version 5 was stored as sent (after the token)."""
    make_node("hb")
    for field in ("agent_version", "agent_status", "agent_verify_ca", "agent_token"):
        resp = api.post("/v1/heartbeat/hb", {"callback_url": "http://10.0.0.5:9999",
                                             "agent_token": "t" * 43, field: 5})
        assert resp.status_code == 400, (field, resp.get_data(as_text=True))
        assert error_of(resp) == "Field %s must be a string, not int." % field


def test_the_inventory_below_api_1_81_is_a_406_naming_the_version(api, make_node):
    """Ironic has no inventory resource before 1.81; hwdrivers served it at any version."""
    make_node("old")
    for headers in ({"X-OpenStack-Ironic-API-Version": "1.80"},
                    {"X-OpenStack-Ironic-API-Version": "1.1"}):
        resp = api.get("/v1/nodes/old/inventory", headers=headers)
        assert resp.status_code == 406, headers
        assert error_of(resp).startswith(
            "GET /v1/nodes/<node>/inventory needs API version 1.81 or later and this "
            "request asked for %s" % headers["X-OpenStack-Ironic-API-Version"])
        assert "send X-OpenStack-Ironic-API-Version: 1.81" in error_of(resp)
    resp = api.raw.get("/v1/nodes/old/inventory")  # no version header: 1.1
    assert resp.status_code == 406
    resp = api.get("/v1/nodes/old/inventory", headers={"X-OpenStack-Ironic-API-Version": "1.81"})
    assert resp.status_code == 404 and "has no inspection data" in error_of(resp)
