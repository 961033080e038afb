"""Scale-out pieces one at a time: ring keys and membership, the JSON-RPC transport,
the partitioned power sync and its overrun warning, a conductor that may not act.

The end-to-end behaviour with real processes is tests/functional/test_scale_out.py.
"""

import datetime
import logging
import threading

import pytest
import waitress

from hwdrivers.cmd import server as server_mod
from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import hash_ring
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import power_sync
from hwdrivers.conductor import rpc
from hwdrivers.conductor import rpc_api
from hwdrivers.conductor import service as service_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from hwdrivers.objects import node as node_obj

CTX = hw_context.get_admin_context()


# -- ring keys and rings -------------------------------------------------------------

def _node(**driver_info):
    return node_obj.Node({"uuid": "6f1c1f8e-4b1a-4f3e-9a51-0d5b0c3e7a11", "name": "n1",
                          "driver": "fake-hardware", "driver_info": driver_info,
                          "conductor_group": ""})


def test_ring_key_is_the_controller_else_the_node(config):
    registry = factory.get_registry()
    assert hash_ring.node_key(registry, _node(fake_controller="pdu-7")) == \
        "controller:fake:pdu-7"
    assert hash_ring.node_key(registry, _node()) == \
        "node:6f1c1f8e-4b1a-4f3e-9a51-0d5b0c3e7a11"
    broken = _node()
    broken.__dict__["driver"] = "no-such-type"  # cannot be composed: hashed by UUID
    assert hash_ring.node_key(registry, broken).startswith("node:")


def test_ring_key_asks_power_before_management(config):
    class Iface:
        def __init__(self, key):
            self.key = key

        def controller_key(self, task):
            return self.key

    class Driver:
        interfaces = {"management": Iface("bmc:10.0.0.9"), "power": Iface("pdu:10.0.0.5")}

    assert hash_ring.ring_key(_node(), Driver()) == "controller:pdu:10.0.0.5"
    Driver.interfaces["power"] = Iface(None)
    assert hash_ring.ring_key(_node(), Driver()) == "controller:bmc:10.0.0.9"


def test_a_joining_conductor_takes_keys_only_for_itself():
    keys = ["controller:pdu-%d" % i for i in range(600)]
    three = hash_ring.Ring(["c1", "c2", "c3"])
    four = hash_ring.Ring(["c1", "c2", "c3", "c4"])
    before = {k: three.owner(k) for k in keys}
    after = {k: four.owner(k) for k in keys}
    moved = [k for k in keys if before[k] != after[k]]
    assert all(after[k] == "c4" for k in moved)
    assert 0.15 * len(keys) < len(moved) < 0.35 * len(keys)  # about a quarter
    shares = [list(before.values()).count(h) / len(keys) for h in ("c1", "c2", "c3")]
    assert all(0.2 < share < 0.47 for share in shares)
    # Same hosts in any order: the same ring in every process.
    assert {k: hash_ring.Ring(["c3", "c1", "c2"]).owner(k) for k in keys} == before


def test_membership_from_heartbeats_and_groups(database, config):
    config(conductor__heartbeat_timeout=30)
    db_api.register_conductor("alive", ["fake-hardware"])
    db_api.register_conductor("other-group", ["fake-hardware"], conductor_group="rack2",
                              rpc_url="http://127.0.0.1:1")
    db_api.register_conductor("stale", ["fake-hardware"])
    db_api.register_conductor("stopped", ["fake-hardware"])
    db_api.unregister_conductor("stopped")
    with db_api.db_engine.writer() as conn:
        conn.execute(db_api.conductors.update()
                     .where(db_api.conductors.c.hostname == "stale")
                     .values(updated_at=db_api.utcnow() - datetime.timedelta(seconds=31)))
    rings = hash_ring.RingManager()
    assert rings.ring("").hosts == ("alive",)
    assert rings.ring("rack2").hosts == ("other-group",)
    assert rings.conductor("other-group")["rpc_url"] == "http://127.0.0.1:1"
    assert rings.ring("rack3") is None
    with pytest.raises(hash_ring.NoConductorForGroup) as caught:
        rings.owner("rack3", "node:x", "n1")
    assert caught.value.code == 503 and "'rack3'" in str(caught.value)


# -- the transport ----------------------------------------------------------------------

class _Target:
    def locked(self, context, ident):
        error = exception.NodeLocked(node=ident, holder="c2")
        error.retry_after = 10
        raise error

    def invalid(self, context, ident):
        raise exception.InvalidParameterValue(errors=["field a is wrong", "field b too"])

    def node(self, context, ident, when):
        return node_obj.Node({"uuid": ident, "name": context.request_id,
                              "driver_info": {"fake_password": "s3cret"},
                              "instance_info": {"configdrive": "x"},
                              "created_at": when, "power_state": PowerState.ON})

    def bug(self, context, ident):
        raise KeyError("internal detail")


@pytest.fixture
def rpc_server():
    app = rpc.make_app(_Target(), ("locked", "invalid", "node", "bug"))
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % int(server.effective_port)
    server_mod.close_listener(server, thread)  # in order: no "Bad file descriptor"


def test_rpc_errors_keep_their_class_status_and_retry_after(rpc_server):
    client = rpc.Client(timeout=10)
    with pytest.raises(exception.NodeLocked) as caught:
        client.call(rpc_server, "locked", CTX, ident="n1")
    assert caught.value.code == 409 and caught.value.retry_after == 10
    assert "Node n1 is locked by c2" in str(caught.value)
    with pytest.raises(exception.InvalidParameterValue) as caught:
        client.call(rpc_server, "invalid", CTX, ident="n1")
    assert caught.value.errors == ["field a is wrong", "field b too"]
    with pytest.raises(rpc.RemoteError) as caught:
        client.call(rpc_server, "bug", CTX, ident="n1")
    assert caught.value.code == 500 and "internal detail" not in str(caught.value)
    with pytest.raises(rpc.RemoteError) as caught:
        client.call(rpc_server, "delete_everything", CTX, ident="n1")
    assert "no method 'delete_everything'" in str(caught.value)


def test_rpc_results_carry_no_secrets(rpc_server):
    when = datetime.datetime(2026, 12, 1, 14, 0, 0)
    result = rpc.Client(timeout=10).call(rpc_server, "node", CTX, ident="u1", when=when)
    assert result.uuid == "u1" and result.created_at == when
    assert result.name == CTX.request_id  # the context crossed too
    assert result.power_state == "power on"
    assert result.driver_info == {} and result.instance_info == {}


def test_rpc_to_a_dead_conductor_is_503():
    with pytest.raises(rpc.ConductorUnreachable) as caught:
        rpc.Client(timeout=5).call("http://127.0.0.1:9", "node", CTX, host="c9",
                                   node="n1", ident="n1")
    assert caught.value.code == 503 and caught.value.retry_after
    assert "Conductor c9, which owns node n1, does not answer" in str(caught.value)


# -- partitioned power sync ---------------------------------------------------------------

def test_sync_reads_only_owned_nodes(database, config):
    for name in ("a", "b", "c"):
        db_api.create_node({"driver": "fake-hardware", "name": name,
                            "power_state": "power off"})
    stats = power_sync.PowerSync(concurrency=2, owns=lambda n: n.name == "b").run_cycle()
    assert (stats.nodes, stats.not_owned, stats.in_sync) == (1, 2, 1)


def test_partitioned_syncs_read_every_node_once_before_and_after_a_join(database, config,
                                                                        monkeypatch):
    from hwdrivers.drivers.modules import fake
    reads = {}
    current = {}
    original = fake.FakePower.get_power_state

    def counted(self, task):
        reads.setdefault(task.node.uuid, []).append(current["host"])
        return original(self, task)

    monkeypatch.setattr(fake.FakePower, "get_power_state", counted)
    nodes = [db_api.create_node({"driver": "fake-hardware", "power_state": "power off",
                                 "driver_info": ({"fake_controller": "pdu-%d" % (i % 10)}
                                                 if i < 30 else {})})
             for i in range(60)]
    registry = factory.get_registry()
    for hosts in (["c1", "c2", "c3"], ["c1", "c2", "c3", "c4"]):
        ring = hash_ring.Ring(hosts)
        reads.clear()
        for host in hosts:  # each conductor's cycle, one after the other
            current["host"] = host
            power_sync.PowerSync(concurrency=4, owns=lambda node, h=host, r=ring: r.owner(
                hash_ring.node_key(registry, node)) == h).run_cycle()
        assert sorted(reads) == sorted(n["uuid"] for n in nodes)
        assert all(len(by) == 1 for by in reads.values())  # each node once
        assert len({by[0] for by in reads.values()}) == len(hosts)  # by every host
        controllers = {}
        for node in nodes[:30]:  # a controller's nodes all read by one conductor
            controllers.setdefault(node["driver_info"]["fake_controller"], set()).add(
                reads[node["uuid"]][0])
        assert all(len(by) == 1 for by in controllers.values())


def test_an_overrunning_cycle_warns_naming_the_option(database, config, caplog):
    config(conductor__sync_power_state_interval=1, fake__power_delay="0.4")
    for name in ("a", "b", "c"):
        db_api.create_node({"driver": "fake-hardware", "name": name,
                            "power_state": "power off"})
    with caplog.at_level(logging.WARNING, logger="hwdrivers.conductor.power_sync"):
        stats = power_sync.PowerSync(concurrency=1).run_cycle()
    assert stats.duration > 1
    assert "raise [conductor] sync_power_state_workers (now 1" in caplog.text


def test_an_overrun_behind_one_controller_says_workers_will_not_help(database, config,
                                                                      caplog):
    config(conductor__sync_power_state_interval=1, fake__power_delay="0.2")
    for name in "abcdef":  # six outlets of one PDU: read one at a time
        db_api.create_node({"driver": "fake-hardware", "name": name,
                            "power_state": "power off",
                            "driver_info": {"fake_controller": "pdu-1"}})
    with caplog.at_level(logging.WARNING, logger="hwdrivers.conductor.power_sync"):
        stats = power_sync.PowerSync(concurrency=6).run_cycle()
    assert stats.queued_seconds > stats.read_seconds / 2
    assert "more workers would not help" in caplog.text
    assert "raise [conductor] sync_power_state_workers" not in caplog.text


def test_default_workers_keep_up_with_10000_ipmi_nodes(config):
    from hwdrivers import conf as hw_conf
    conductor = hw_conf.CONF.conductor
    assert 10000 * 0.2 / conductor.sync_power_state_workers <= \
        conductor.sync_power_state_interval / 2


# -- a conductor that may have been presumed dead ---------------------------------------

def test_a_stale_conductor_refuses_to_act(database, config):
    config(host="c1", conductor__heartbeat_timeout=30)
    svc = service_mod.ConductorService(partitioned=True)
    svc.start()
    try:
        node = node_obj.Node(db_api.create_node({"driver": "fake-hardware", "name": "a"}))
        assert svc.can_act() and svc.owns(node)
        svc._heartbeat_ok -= 31  # as if paused (SIGSTOP) past the timeout
        assert not svc.can_act() and not svc.owns(node)
        with pytest.raises(service_mod.ConductorRejoining) as caught:
            svc.check_can_act()
        assert caught.value.code == 503
        db_api.unregister_conductor("c1")  # meanwhile another one reaped it
        svc.heartbeat()  # rejoins
        assert db_api.get_conductor("c1")["online"] and svc.can_act()
    finally:
        svc.stop(timeout=5)


# -- the conductor's JSON-RPC listener, as hwdrivers-conductor serves it ------------------

class _Manager:
    def get_boot_device(self, context, ident):
        return {"boot_device": "pxe", "persistent": False, "asked_by": context.user}


class _Service:
    manager = _Manager()
    hostname = "c1"

    def __init__(self):
        self.refuse = False

    def check_can_act(self, method=None, params=None):
        if self.refuse:
            raise service_mod.ConductorRejoining(host="c1", timeout=5)


def test_json_rpc_listener_with_http_basic(config, tmp_path):
    import bcrypt

    from hwdrivers.cmd import conductor as conductor_cmd
    users = tmp_path / "htpasswd-json-rpc"
    users.write_text("hwdrivers-api:%s\n" % bcrypt.hashpw(
        b"Rpc-Pass-1", bcrypt.gensalt(rounds=4)).decode())
    config(json_rpc__auth_strategy="http_basic", json_rpc__port=0,
           json_rpc__http_basic_auth_user_file=str(users))
    service = _Service()
    from hwdrivers import conf as hw_conf
    listener = conductor_cmd.rpc_server(service, hw_conf.CONF)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    try:
        url = conductor_cmd.advertised_url(listener, hw_conf.CONF)
        assert url.startswith("http://127.0.0.1:")
        ctx = hw_context.RequestContext(user="alice")
        good = rpc.Client(timeout=10, username="hwdrivers-api", password="Rpc-Pass-1")
        assert good.call(url, "get_boot_device", ctx, ident="n1") == {
            "boot_device": "pxe", "persistent": False, "asked_by": "alice"}
        for client in (rpc.Client(timeout=10),
                       rpc.Client(timeout=10, username="hwdrivers-api", password="wrong")):
            with pytest.raises(exception.ConfigInvalid) as caught:
                client.call(url, "get_boot_device", ctx, host="c1", ident="n1")
            assert "[json_rpc] http_basic_username" in str(caught.value)
        service.refuse = True  # a conductor that may have been presumed dead
        with pytest.raises(service_mod.ConductorRejoining) as caught:
            good.call(url, "get_boot_device", ctx, ident="n1")
        assert caught.value.code == 503
    finally:
        listener.close()
        thread.join(5)


def test_noauth_json_rpc_is_refused_beyond_loopback(config):
    from hwdrivers import conf as hw_conf
    from hwdrivers.cmd import conductor as conductor_cmd
    config(json_rpc__host_ip="0.0.0.0")
    with pytest.raises(exception.ConfigInvalid) as caught:
        conductor_cmd.check_rpc_bind(hw_conf.CONF)
    assert "[json_rpc] host_ip = 0.0.0.0" in str(caught.value)
    config(json_rpc__auth_strategy="http_basic")
    conductor_cmd.check_rpc_bind(hw_conf.CONF)  # authenticated: allowed
    config(conductor__conductor_group="rack 9")
    with pytest.raises(exception.ConfigInvalid) as caught:
        conductor_cmd.check_group(hw_conf.CONF)
    assert "[conductor] conductor_group = 'rack 9'" in str(caught.value)


# -- an API process bounds the hardware waits it routes ----------------------------------

class _OneConductor:
    def owner(self, group, key, ident, hardware_type=None):
        return "c1"

    def conductor(self, host):
        return {"rpc_url": "http://127.0.0.1:9/"}


class _HangingClient:
    """A conductor that answers hardware calls only when told to."""

    def __init__(self):
        self.answer = threading.Event()
        self.waiting = threading.Semaphore(0)

    def call(self, url, method, context, **kwargs):
        if method in manager_mod.HARDWARE_WAITS:
            self.waiting.release()
            self.answer.wait(10)
            return {"boot_device": "pxe", "persistent": False}
        return "accepted %s" % method


def test_routed_hardware_waits_take_the_api_process_slots(database, config):
    """Several conductors each within their slots could still hold every API thread."""
    config(api__hardware_wait_slots=2)
    node = db_api.create_node({"driver": "fake-hardware", "name": "w1"})
    client = _HangingClient()
    manager = rpc_api.RoutingManager(rings=_OneConductor(), client=client)
    results = []
    waiters = [threading.Thread(target=lambda: results.append(
        manager.get_boot_device(CTX, node["uuid"]))) for _ in range(2)]
    for thread in waiters:
        thread.start()
    try:
        for _ in waiters:
            assert client.waiting.acquire(timeout=10)
        with pytest.raises(exception.HardwareBusy) as caught:  # a third: 503 at once
            manager.get_boot_device(CTX, node["uuid"])
        assert caught.value.code == 503 and "hardware_wait_slots" in str(caught.value)
        # What does not wait on hardware is routed as before.
        assert manager.change_power_state(CTX, node["uuid"], PowerState.ON, wait=False) == (
            "accepted change_power_state")
    finally:
        client.answer.set()
        for thread in waiters:
            thread.join(10)
    assert len(results) == 2
    manager.get_boot_device(CTX, node["uuid"])  # the slots were given back


def test_hardware_waits_name_exactly_the_methods_that_wait():
    """HARDWARE_WAITS is what goes through _hardware_call (directly or via _in_task)."""
    import inspect

    waiting = {name for name in rpc_api.ROUTED
               if any(call in inspect.getsource(getattr(manager_mod.ConductorManager, name))
                      for call in ("self._in_task(", "self._hardware_call("))}
    assert waiting == set(manager_mod.HARDWARE_WAITS)


def test_conductor_group_names_are_case_insensitive(database, config):
    """As in Ironic: a node set to 'DC2' is driven by a conductor of group 'dc2'."""
    from hwdrivers import conf as hw_conf
    from hwdrivers.common import context as hw_context
    from hwdrivers.conductor import manager as manager_mod
    from hwdrivers.conductor import service as service_mod
    ctx = hw_context.get_admin_context()
    manager = manager_mod.ConductorManager()
    node = manager.create_node(ctx, {"driver": "fake-hardware", "name": "cg",
                                     "conductor_group": "DC2"})
    assert node.conductor_group == "dc2"
    node = manager.update_node(ctx, "cg", {"conductor_group": "Edge.West_1"})
    assert node.conductor_group == "edge.west_1"
    config(conductor__conductor_group="Edge.West_1")
    assert service_mod.ConductorService(hw_conf.CONF).group == "edge.west_1"
