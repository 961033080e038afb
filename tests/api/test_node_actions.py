"""Node sub-resources: states (power, provision), boot device, validate,
maintenance and vendor passthru, with the statuses Ironic's clients expect."""

import datetime

import pytest

from hwdrivers.db import api as db_api
from tests.api import conftest
from tests.api.conftest import error_of, row
from tests.waits import wait_for


def _settled(name, field, value):
    return lambda: row(name)[field] == value and row(name)["reservation"] is None


# -- states ---------------------------------------------------------------------------

def test_states_document(api, make_node):
    node = make_node("st")
    body = api.get("/v1/nodes/st/states").get_json()
    assert body["power_state"] is None
    assert body["provision_state"] == "enroll"
    assert body["target_power_state"] is None and body["last_error"] is None
    assert body["links"][0]["href"].endswith("/v1/nodes/%s/states" % node["uuid"])
    assert api.get("/v1/nodes/nope/states").status_code == 404


@pytest.mark.parametrize("target, final", [
    ("power on", "power on"), ("power off", "power off"), ("rebooting", "power on"),
    ("soft power off", "power off"), ("soft rebooting", "power on")])
def test_power_change_is_async_202(api, make_node, target, final):
    node = make_node("pw")
    resp = api.put("/v1/nodes/pw/states/power", {"target": target})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_data() == b""
    assert resp.headers["Location"].endswith("/v1/nodes/%s/states" % node["uuid"])
    wait_for(_settled("pw", "power_state", final))
    assert row("pw")["target_power_state"] is None
    assert api.get("/v1/nodes/pw").get_json()["power_state"] == final


def test_power_answers_before_the_hardware_finishes(api, make_node, config):
    config(fake__power_delay="0.5")
    make_node("slow")
    resp = api.put("/v1/nodes/slow/states/power", {"target": "power on", "timeout": 30})
    assert resp.status_code == 202
    # The target is published before the 202; the work is still running.
    states = api.get("/v1/nodes/slow/states").get_json()
    assert states["target_power_state"] == "power on"
    # A second change while the first holds the lock: 409, nothing changes.
    config(api__node_locked_wait=0.05)
    config(fake__power_delay="0.5")
    resp = api.put("/v1/nodes/slow/states/power", {"target": "power off"})
    assert resp.status_code == 409
    assert "locked" in error_of(resp)
    wait_for(_settled("slow", "power_state", "power on"))


@pytest.mark.parametrize("body, words", [
    ({"target": "sideways"}, ["target", "power on"]),
    ({"target": "on"}, ["target"]),
    ({}, ["target", "required"]),
    ({"target": 1}, ["target", "string"]),
    ({"target": "power on", "timeout": -1}, ["timeout"]),
    ({"target": "power on", "timeout": "ten"}, ["timeout"]),
    ({"target": "power on", "timeout": True}, ["timeout"]),
    ({"target": "power on", "colour": "red"}, ["colour"]),
])
def test_bad_power_request_is_400_and_changes_nothing(api, make_node, body, words):
    make_node("bpw")
    before = row("bpw")
    resp = api.put("/v1/nodes/bpw/states/power", body)
    assert resp.status_code == 400
    for word in words:
        assert word in error_of(resp)
    assert row("bpw") == before


def test_power_with_invalid_driver_info_is_400(api, make_node):
    make_node("bdi")
    db_api.update_node(row("bdi")["id"], {"driver_info": {"fake_address": "not an address!"}})
    before = row("bdi")
    resp = api.put("/v1/nodes/bdi/states/power", {"target": "power on"})
    assert resp.status_code == 400
    assert "fake_address" in error_of(resp)
    assert row("bdi") == before


def test_power_on_locked_node_is_409(api, make_node, config):
    config(api__node_locked_wait=0.05)
    make_node("lk")
    future = db_api.utcnow() + datetime.timedelta(minutes=5)
    assert db_api.reserve_node(row("lk")["id"], "elsewhere:t", future, db_api.utcnow())
    resp = api.put("/v1/nodes/lk/states/power", {"target": "power on"})
    assert resp.status_code == 409
    assert row("lk")["target_power_state"] is None


@pytest.fixture
def tiny_api(sqlite_database, config):
    """An app whose conductor has a single worker."""
    from hwdrivers.api import app as app_mod
    service = conftest.Service(size=1)
    yield conftest.Client(app_mod.create_app(service).test_client())
    service.manager.workers.shutdown(wait=True, timeout=10)


def test_busy_pool_answers_503_and_changes_nothing(tiny_api, config):
    config(fake__power_delay="0.5")
    for name in ("w1", "w2"):
        assert tiny_api.post("/v1/nodes", {"driver": "fake-hardware",
                                           "name": name}).status_code == 201
    assert tiny_api.put("/v1/nodes/w1/states/power", {"target": "power on"}).status_code == 202
    before = row("w2")
    resp = tiny_api.put("/v1/nodes/w2/states/power", {"target": "power on"})
    assert resp.status_code == 503
    assert "worker" in error_of(resp)
    after = row("w2")
    assert after["target_power_state"] is None and after["reservation"] is None
    assert after["power_state"] == before["power_state"]
    wait_for(_settled("w1", "power_state", "power on"))


def test_provision_manage_provide_undeploy(api, make_node):
    make_node("pv")
    assert api.put("/v1/nodes/pv/states/provision", {"target": "manage"}).status_code == 202
    wait_for(_settled("pv", "provision_state", "manageable"))
    assert api.put("/v1/nodes/pv/states/provision", {"target": "provide"}).status_code == 202
    wait_for(_settled("pv", "provision_state", "available"))
    assert api.put("/v1/nodes/pv/states/provision", {"target": "active"}).status_code == 202
    wait_for(_settled("pv", "provision_state", "active"))
    assert api.put("/v1/nodes/pv/states/provision", {"target": "deleted"}).status_code == 202
    wait_for(_settled("pv", "provision_state", "available"))


def test_provision_updated_at_is_when_the_state_last_changed(api, make_node):
    """Ironic's field, in the node and its states: set by a change, kept by others."""
    make_node("pu")
    assert api.get("/v1/nodes/pu").get_json()["provision_updated_at"] is None
    before = datetime.datetime.now(datetime.UTC)
    assert api.put("/v1/nodes/pu/states/provision", {"target": "manage"}).status_code == 202
    wait_for(_settled("pu", "provision_state", "manageable"))
    shown = api.get("/v1/nodes/pu").get_json()["provision_updated_at"]
    assert shown is not None
    assert datetime.datetime.fromisoformat(shown) >= before.replace(microsecond=0)
    assert api.get("/v1/nodes/pu/states").get_json()["provision_updated_at"] == shown
    # A field change or a power action is not a provision state change.
    assert api.patch("/v1/nodes/pu", [{"op": "add", "path": "/extra/k",
                                       "value": "v"}]).status_code == 200
    assert api.put("/v1/nodes/pu/states/power", {"target": "power on"}).status_code == 202
    wait_for(_settled("pu", "power_state", "power on"))
    assert api.get("/v1/nodes/pu").get_json()["provision_updated_at"] == shown
    listed = api.get("/v1/nodes?fields=name,provision_updated_at").get_json()["nodes"]
    assert listed == [{"name": "pu", "provision_updated_at": shown,
                       "links": listed[0]["links"]}]


def test_provision_wrong_state_is_400(api, make_node):
    """As Ironic answers it: its clients retry a 409 as a locked node, for ~20 s."""
    make_node("ws")
    before = row("ws")
    resp = api.put("/v1/nodes/ws/states/provision", {"target": "provide"})
    assert resp.status_code == 400
    assert "enroll" in error_of(resp)
    assert row("ws") == before


def test_provide_in_maintenance_is_400(api, make_node):
    """As Ironic answers it (NodeInMaintenance is Invalid there): not a retried 409."""
    make_node("mp")
    assert api.put("/v1/nodes/mp/states/provision", {"target": "manage"}).status_code == 202
    wait_for(lambda: row("mp")["provision_state"] == "manageable", 30, message="manageable")
    assert api.put("/v1/nodes/mp/maintenance", {"reason": "fan"}).status_code == 202
    before = row("mp")
    resp = api.put("/v1/nodes/mp/states/provision", {"target": "provide"})
    assert resp.status_code == 400
    assert "maintenance" in error_of(resp) and "fan" in error_of(resp)
    assert row("mp") == before


@pytest.mark.parametrize("body, words", [
    ({"target": "explode"}, ["target", "manage"]),
    ({"target": "rescue"}, ["rescue", "not supported"]),
    ({}, ["target", "required"]),
    ({"target": "active", "configdrive": "abc"}, ["configdrive"]),
    ({"target": "manage", "colour": 1}, ["colour"]),
])
def test_bad_provision_request_is_400(api, make_node, body, words):
    make_node("bpv")
    before = row("bpv")
    resp = api.put("/v1/nodes/bpv/states/provision", body)
    assert resp.status_code == 400
    for word in words:
        assert word in error_of(resp)
    assert row("bpv") == before


# -- management -----------------------------------------------------------------------

def test_boot_device_set_get_supported(api, make_node):
    make_node("bd")
    assert api.get("/v1/nodes/bd/management/boot_device").get_json() == {
        "boot_device": None, "persistent": None}
    resp = api.put("/v1/nodes/bd/management/boot_device",
                   {"boot_device": "pxe", "persistent": True})
    assert resp.status_code == 204
    assert api.get("/v1/nodes/bd/management/boot_device").get_json() == {
        "boot_device": "pxe", "persistent": True}
    assert row("bd")["boot_device"] == "pxe"
    supported = api.get("/v1/nodes/bd/management/boot_device/supported").get_json()
    assert "pxe" in supported["supported_boot_devices"]
    assert "disk" in supported["supported_boot_devices"]


@pytest.mark.parametrize("body, words", [
    ({"boot_device": "floppy-disk"}, ["floppy-disk"]),
    ({}, ["boot_device", "required"]),
    ({"boot_device": "pxe", "persistent": "maybe"}, ["persistent"]),
    ({"boot_device": "pxe", "when": "now"}, ["when"]),
])
def test_bad_boot_device_is_400(api, make_node, body, words):
    make_node("bbd")
    before = row("bbd")
    resp = api.put("/v1/nodes/bbd/management/boot_device", body)
    assert resp.status_code == 400
    for word in words:
        assert word in error_of(resp)
    assert row("bbd") == before


def test_validate_shape(api, make_node):
    make_node("val")
    body = api.get("/v1/nodes/val/validate").get_json()
    assert body["power"] == {"result": True, "reason": None}
    assert body["network"]["result"] is None
    db_api.update_node(row("val")["id"], {"driver_info": {"fake_address": "not an address!"}})
    body = api.get("/v1/nodes/val/validate").get_json()
    assert body["power"]["result"] is False
    assert "fake_address" in body["power"]["reason"]


# -- maintenance -------------------------------------------------------------------

def test_maintenance_on_and_off(api, make_node):
    make_node("mt")
    resp = api.put("/v1/nodes/mt/maintenance", {"reason": "fan broken"})
    assert resp.status_code == 202
    node = api.get("/v1/nodes/mt").get_json()
    assert node["maintenance"] is True and node["maintenance_reason"] == "fan broken"
    assert api.delete("/v1/nodes/mt/maintenance").status_code == 202
    node = api.get("/v1/nodes/mt").get_json()
    assert node["maintenance"] is False and node["maintenance_reason"] is None
    # No body at all is fine too.
    assert api.put("/v1/nodes/mt/maintenance").status_code == 202
    assert row("mt")["maintenance"] is True


def test_bad_maintenance_request(api, make_node):
    make_node("bmt")
    before = row("bmt")
    resp = api.put("/v1/nodes/bmt/maintenance", {"reason": 5})
    assert resp.status_code == 400 and "reason" in error_of(resp)
    resp = api.put("/v1/nodes/bmt/maintenance", {"why": "x"})
    assert resp.status_code == 400 and "why" in error_of(resp)
    assert row("bmt") == before
    assert api.put("/v1/nodes/none/maintenance", {}).status_code == 404


# -- vendor passthru -------------------------------------------------------------

def test_vendor_methods_and_calls(api, make_node):
    node = make_node("vp")
    methods = api.get("/v1/nodes/vp/vendor_passthru/methods").get_json()
    assert set(methods) >= {"first_method", "second_method"}
    assert methods["first_method"]["http_methods"] == ["GET", "POST"]
    assert "func" not in methods["first_method"]
    resp = api.post("/v1/nodes/vp/vendor_passthru?method=first_method", {"x": 1})
    assert resp.status_code == 200
    assert resp.get_json() == {"node": node["uuid"], "args": {"x": 1}}
    resp = api.get("/v1/nodes/vp/vendor_passthru?method=first_method")
    assert resp.status_code == 200
    resp = api.post("/v1/nodes/vp/vendor_passthru?method=second_method", {"y": 2})
    assert resp.status_code == 202
    wait_for(lambda: row("vp")["driver_internal_info"].get("fake_vendor_last_call")
             == {"y": 2})


@pytest.mark.parametrize("method, path, words", [
    ("POST", "/v1/nodes/vbad/vendor_passthru", ["method", "required"]),
    ("POST", "/v1/nodes/vbad/vendor_passthru?method=nope", ["nope"]),
    ("DELETE", "/v1/nodes/vbad/vendor_passthru?method=first_method", ["DELETE"]),
])
def test_bad_vendor_call_is_400(api, make_node, method, path, words):
    make_node("vbad")
    before = row("vbad")
    resp = api.request(method, path)
    assert resp.status_code == 400
    for word in words:
        assert word in error_of(resp)
    assert row("vbad") == before


def test_inject_nmi(api, make_node, monkeypatch):
    from hwdrivers.drivers.modules import fake
    calls = []
    monkeypatch.setattr(fake.FakeManagement, "inject_nmi",
                        lambda self, task: calls.append(task.node.uuid))
    node = make_node("nmi")
    assert api.put("/v1/nodes/nmi/management/inject_nmi", {}).status_code == 204
    assert calls == [node["uuid"]]
    resp = api.put("/v1/nodes/nmi/management/inject_nmi", {"now": True})
    assert resp.status_code == 400 and "now" in error_of(resp)
    assert calls == [node["uuid"]]
    assert api.put("/v1/nodes/ghost/management/inject_nmi", {}).status_code == 404


# -- undeclared driver_info keys ----------------------------------------------------

def test_undeclared_driver_info_refused_on_create_and_patch(api, make_node):
    resp = api.post("/v1/nodes", {"driver": "fake-hardware", "name": "ud",
                                  "driver_info": {"fake_user": "admin"}})
    assert resp.status_code == 400
    message = error_of(resp)
    assert "fake_user (did you mean fake_username?)" in message
    assert "valid fields:" in message and "fake_password" in message
    assert api.get("/v1/nodes/ud").status_code == 404
    make_node("ud")
    before = row("ud")
    resp = api.patch("/v1/nodes/ud", [{"op": "add", "path": "/driver_info/fake_user",
                                       "value": "admin"}])
    assert resp.status_code == 400
    assert "did you mean fake_username?" in error_of(resp)
    assert row("ud") == before


# -- a locked node: wait server-side, then 409 with Retry-After ------------------------

def _hold(node_name, release):
    """A real concurrent lock holder (a conductor task in another thread)."""
    import threading

    from hwdrivers.common import context as hw_context
    from hwdrivers.conductor import task_manager

    taken = threading.Event()

    def hold():
        with task_manager.acquire(hw_context.get_admin_context(), node_name,
                                  purpose="power on"):
            taken.set()
            release.wait(30)
    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(30)
    return thread


def test_action_waits_for_a_short_lock_then_runs(api, make_node, config):
    import threading

    config(api__node_locked_wait=30, conductor__node_locked_retry_timeout=0)
    make_node("wl")
    release = threading.Event()
    thread = _hold("wl", release)
    threading.Timer(1.0, release.set).start()
    resp = api.put("/v1/nodes/wl/states/power", {"target": "power on"})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert release.is_set()  # answered after the holder let go, not before
    thread.join(30)
    wait_for(_settled("wl", "power_state", "power on"))


def test_lock_held_past_the_wait_is_409_with_retry_after(api, make_node, config):
    import threading

    config(api__node_locked_wait=0.3, conductor__node_locked_retry_timeout=60)
    make_node("wl2")
    release = threading.Event()
    thread = _hold("wl2", release)
    try:
        resp = api.patch("/v1/nodes/wl2", [{"op": "add", "path": "/extra/x", "value": 1}])
        assert resp.status_code == 409
        assert resp.headers["Retry-After"] == "1"
        assert "locked" in error_of(resp)
        db_api.update_node(row("wl2")["id"], {"provision_state": "verifying"})
        resp = api.put("/v1/nodes/wl2/states/power", {"target": "power on"})
        assert resp.status_code == 409
        assert resp.headers["Retry-After"] == "10"
        assert "verifying in progress" in error_of(resp)
    finally:
        release.set()
        thread.join(30)
    assert row("wl2")["extra"] == {} and row("wl2")["target_power_state"] is None


def test_power_target_a_driver_never_supports_is_400_without_asking_it(api, make_node):
    """The declared power states answer in the request thread; no PDU is contacted
    (the address is a port nothing listens on, so asking would fail differently)."""
    make_node("pdu-node", driver="snmp", driver_info={
        "snmp_driver": "apc", "snmp_address": "127.0.0.1", "snmp_port": 9,
        "snmp_outlet": 3})
    resp = api.put("/v1/nodes/pdu-node/states/power", {"target": "soft power off"})
    assert resp.status_code == 400
    assert "soft power off" in error_of(resp) and "power on" in error_of(resp)
    assert row("pdu-node")["target_power_state"] is None


# -- node history (Ironic 1.78) ---------------------------------------------------------

def test_node_history_lists_pages_and_shows_events(api, make_node):
    node = make_node("nh")
    for reason in ("first", "second"):
        assert api.put("/v1/nodes/nh/maintenance", {"reason": reason}).status_code == 202
    assert api.delete("/v1/nodes/nh/maintenance").status_code == 202
    body = api.get("/v1/nodes/nh/history").get_json()
    events = body["history"]
    assert [e["event"] for e in events] == [
        "maintenance set: first", "maintenance set: second", "maintenance cleared"]
    assert set(events[0]) == {"uuid", "created_at", "severity", "event", "links"}
    assert events[0]["severity"] == "WARNING" and "next" not in body
    assert events[0]["links"][0]["href"].endswith(
        "/v1/nodes/%s/history/%s" % (node["uuid"], events[0]["uuid"]))
    detail = api.get("/v1/nodes/nh/history?detail=true").get_json()["history"][0]
    assert detail["event_type"] == "maintenance" and "conductor" in detail
    page = api.get("/v1/nodes/nh/history?limit=1").get_json()
    assert len(page["history"]) == 1 and "marker=%s" % events[0]["uuid"] in page["next"]
    shown = api.get("/v1/nodes/%s/history/%s" % (node["uuid"], events[2]["uuid"]))
    assert shown.status_code == 200 and shown.get_json()["event"] == "maintenance cleared"
    assert api.get("/v1/nodes/nh/history/%s" % ("0" * 32)).status_code == 404
    assert api.get("/v1/nodes/nh/history?marker=nope").status_code == 400
    assert api.get("/v1/nodes/ghost/history").status_code == 404
