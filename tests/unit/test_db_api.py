"""hwdrivers.db.api on SQLite and PostgreSQL (the ``database`` fixture)."""

import datetime
import threading
import uuid

import pytest
import sqlalchemy as sa

from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.db import api
from hwdrivers.db import engine as db_engine

NOW = datetime.datetime(2030, 1, 1, 12, 0, 0)
LATER = NOW + datetime.timedelta(minutes=1)


def make_node(**values):
    values.setdefault("driver", "fake-hardware")
    return api.create_node(values)


# -- nodes: create / get ------------------------------------------------------------

def test_create_node_defaults(database):
    node = make_node(name="n1")
    assert isinstance(node, dict)
    assert isinstance(node["id"], int)
    assert uuid.UUID(node["uuid"])
    assert node["name"] == "n1"
    assert node["provision_state"] == "enroll"
    assert node["maintenance"] is False
    assert node["power_sync_failures"] == 0
    for field in ("driver_info", "driver_internal_info", "instance_info", "properties",
                  "extra"):
        assert node[field] == {}
    for kind in interface_types.ALL:
        assert node["%s_interface" % kind] is None
    assert node["reservation"] is None and node["reservation_expires"] is None
    assert isinstance(node["created_at"], datetime.datetime)
    assert node["created_at"].tzinfo is None
    assert node["updated_at"] is None


def test_create_node_keeps_values(database):
    node_uuid = str(uuid.uuid4())
    info = {"ipmi_address": "10.0.0.1", "nested": {"a": [1, 2]}}
    node = make_node(uuid=node_uuid, driver_info=info, power_interface="fake",
                     maintenance=True, maintenance_reason="broken fan")
    assert node["uuid"] == node_uuid
    assert node["driver_info"] == info
    assert node["power_interface"] == "fake"
    assert node["maintenance"] is True
    assert api.get_node(node["id"]) == node


def test_create_node_duplicate_uuid(database):
    node = make_node()
    with pytest.raises(exception.NodeAlreadyExists) as info:
        make_node(uuid=node["uuid"])
    assert "uuid" in str(info.value)
    assert node["uuid"] in str(info.value)


def test_create_node_duplicate_name(database):
    make_node(name="dup")
    with pytest.raises(exception.NodeAlreadyExists) as info:
        make_node(name="dup")
    assert "name dup" in str(info.value)


def test_create_node_requires_driver(database):
    with pytest.raises(exception.MissingParameterValue):
        api.create_node({"name": "x"})


def test_create_node_rejects_unknown_fields(database):
    with pytest.raises(exception.Invalid) as info:
        make_node(colour="red")
    assert "colour" in str(info.value)


def test_create_node_rejects_uuid_like_name(database):
    with pytest.raises(exception.InvalidParameterValue):
        make_node(name=str(uuid.uuid4()))


def test_get_node_by_id_uuid_name(database):
    node = make_node(name="by-name")
    assert api.get_node(node["id"]) == node
    assert api.get_node(node["uuid"]) == node
    assert api.get_node(node["uuid"].upper()) == node
    assert api.get_node("by-name") == node


@pytest.mark.parametrize("ident", [12345, "missing", "6a2d1c4e-0000-4000-8000-000000000000", ""])
def test_get_node_not_found(database, ident):
    with pytest.raises(exception.NodeNotFound):
        api.get_node(ident)


# -- nodes: update / destroy ----------------------------------------------------------

def test_update_node(database):
    node = make_node(name="u1")
    updated = api.update_node(node["id"], {"power_state": "power on",
                                           "driver_info": {"k": "v"},
                                           "boot_device_persistent": True})
    assert updated["power_state"] == "power on"
    assert updated["driver_info"] == {"k": "v"}
    assert updated["boot_device_persistent"] is True
    assert updated["updated_at"] is not None
    assert updated["created_at"] == node["created_at"]
    assert api.get_node(node["id"]) == updated


def test_update_node_missing(database):
    with pytest.raises(exception.NodeNotFound):
        api.update_node(9999, {"power_state": "power on"})
    with pytest.raises(exception.NodeNotFound):
        api.update_node(9999, {"power_state": "power on"}, expected_reservation="me")


def test_update_node_name_conflict(database):
    make_node(name="taken")
    other = make_node(name="free")
    with pytest.raises(exception.NodeAlreadyExists) as info:
        api.update_node(other["id"], {"name": "taken"})
    assert "name taken" in str(info.value)
    assert api.get_node(other["id"])["name"] == "free"


@pytest.mark.parametrize("field", ["bogus", "id", "uuid"])
def test_update_node_rejects_fields(database, field):
    node = make_node()
    with pytest.raises(exception.Invalid) as info:
        api.update_node(node["id"], {field: 1})
    assert field in str(info.value)


def test_update_node_expected_reservation(database):
    node = make_node(name="leased")
    assert api.reserve_node(node["id"], "owner-a", LATER, NOW)
    updated = api.update_node(node["id"], {"power_state": "power off"},
                              expected_reservation="owner-a")
    assert updated["power_state"] == "power off"
    with pytest.raises(exception.LeaseLost) as info:
        api.update_node(node["id"], {"power_state": "power on"},
                        expected_reservation="owner-b")
    assert "leased" in str(info.value) and "owner-b" in str(info.value)
    with pytest.raises(exception.LeaseLost):
        api.update_node(node["id"], {"power_state": "power on"}, expected_reservation=None)
    assert api.get_node(node["id"])["power_state"] == "power off"
    assert api.release_node(node["id"], "owner-a")
    assert api.update_node(node["id"], {"power_state": "power on"},
                           expected_reservation=None)["power_state"] == "power on"


def test_provision_updated_at_moves_only_when_the_provision_state_changes(database):
    """Every write path stamps a real change of provision_state, and only that."""
    node = make_node(name="stamp")
    assert node["provision_updated_at"] is None
    stamp = lambda: api.get_node(node["id"])["provision_updated_at"]  # noqa: E731

    # update_node: a change stamps with the write's updated_at...
    first = api.update_node(node["id"], {"provision_state": "verifying",
                                         "updated_at": NOW})
    assert first["provision_updated_at"] == NOW
    # ...the same state again, or another field, does not.
    api.update_node(node["id"], {"provision_state": "verifying", "updated_at": LATER})
    api.update_node(node["id"], {"extra": {"a": 1}})
    assert stamp() == NOW

    # write_node (a lease holder's save), inside and outside a transaction.
    assert api.reserve_node(node["id"], "me:1", LATER + datetime.timedelta(hours=1), NOW)
    api.write_node(node["id"], {"provision_state": "verifying", "updated_at": LATER}, "me:1")
    assert stamp() == NOW
    api.write_node(node["id"], {"provision_state": "manageable", "updated_at": LATER},
                   "me:1", release=True)
    assert stamp() == LATER

    # reserve_and_get_node publishing the state with the lease.
    moment = LATER + datetime.timedelta(minutes=5)
    row = api.reserve_and_get_node("stamp", "me:2", moment + datetime.timedelta(hours=1),
                                   moment, publish={"provision_state": "manageable"})
    assert row is not None and stamp() == LATER
    api.release_node(node["id"], "me:2")
    before = api.utcnow()  # the write's updated_at: this process's clock
    row = api.reserve_and_get_node("stamp", "me:3", moment + datetime.timedelta(hours=1),
                                   moment, publish={"provision_state": "inspecting"})
    moment = stamp()
    assert before <= moment <= api.utcnow()

    # A conductor's death moves the transient state to its failure, stamped.
    changed = api.abort_orphaned_operations([node["id"]], "conductor died",
                                            {"inspecting": "inspect failed"})
    assert changed == [node["id"]]
    assert stamp() not in (None, moment)

    # It is the database's to set: an update naming it is refused.
    with pytest.raises(exception.Invalid) as info:
        api.update_node(node["id"], {"provision_updated_at": NOW})
    assert "provision_updated_at" in str(info.value)


def test_destroy_node_cascades_ports(database):
    node = make_node()
    other = make_node()
    api.create_port({"node_id": node["id"], "address": "52:54:00:00:00:01"})
    kept = api.create_port({"node_id": other["id"], "address": "52:54:00:00:00:02"})
    api.destroy_node(node["id"])
    with pytest.raises(exception.NodeNotFound):
        api.get_node(node["id"])
    assert api.list_ports() == [kept]
    with pytest.raises(exception.NodeNotFound):
        api.destroy_node(node["id"])


# -- nodes: list / count ---------------------------------------------------------------

def _populate():
    nodes = []
    for index in range(10):
        nodes.append(make_node(
            name="node-%02d" % index if index % 3 else None,
            driver="ipmi" if index % 2 else "fake-hardware",
            maintenance=index in (1, 2),
            provision_state="available" if index < 4 else "enroll",
            power_state=["power on", "power off", None][index % 3],
        ))
    return nodes


def _ids(rows):
    return [row["id"] for row in rows]


def test_list_nodes_filters(database):
    nodes = _populate()
    assert _ids(api.list_nodes()) == _ids(nodes)
    assert _ids(api.list_nodes({"driver": "ipmi"})) == _ids(nodes[1::2])
    assert _ids(api.list_nodes({"maintenance": True})) == _ids(nodes[1:3])
    assert len(api.list_nodes({"maintenance": False})) == 8
    assert _ids(api.list_nodes({"provision_state": "available"})) == _ids(nodes[:4])
    assert _ids(api.list_nodes({"power_state": "power off"})) == _ids(nodes[1::3])
    assert _ids(api.list_nodes({"uuids": [nodes[3]["uuid"], nodes[5]["uuid"]]})) == \
        _ids([nodes[3], nodes[5]])
    assert _ids(api.list_nodes({"ids": [nodes[0]["id"], nodes[9]["id"]]})) == \
        _ids([nodes[0], nodes[9]])
    assert _ids(api.list_nodes({"name": "node-04"})) == [nodes[4]["id"]]
    assert _ids(api.list_nodes({"driver": "ipmi", "maintenance": True})) == [nodes[1]["id"]]
    assert api.list_nodes({"ids": []}) == []


def test_list_nodes_reservation_filters(database):
    nodes = _populate()
    assert api.reserve_node(nodes[0]["id"], "host-a:1", LATER, NOW)
    assert api.reserve_node(nodes[1]["id"], "host-a:2", LATER, NOW)
    assert api.reserve_node(nodes[2]["id"], "host-b:1", LATER, NOW)
    assert api.reserve_node(nodes[3]["id"], "host_a:3", LATER, NOW)  # '_' is no wildcard
    assert _ids(api.list_nodes({"reserved": True})) == _ids(nodes[:4])
    assert _ids(api.list_nodes({"reserved": False})) == _ids(nodes[4:])
    assert _ids(api.list_nodes({"reservation_owner_prefix": "host-a:"})) == \
        _ids(nodes[:2])
    assert api.count_nodes({"reservation_owner_prefix": "host%"}) == 0


def test_count_nodes(database):
    _populate()
    assert api.count_nodes() == 10
    assert api.count_nodes({"driver": "ipmi"}) == 5
    assert api.count_nodes({"maintenance": True, "driver": "fake-hardware"}) == 1


def test_list_nodes_unknown_filter(database):
    with pytest.raises(exception.Invalid) as info:
        api.list_nodes({"colour": "red"})
    assert "colour" in str(info.value)


def test_list_nodes_invalid_sort_key(database):
    with pytest.raises(exception.Invalid) as info:
        api.list_nodes(sort_key="driver_info")
    for key in api.SORT_KEYS:
        assert key in str(info.value)
    with pytest.raises(exception.Invalid):
        api.list_nodes(sort_dir="sideways")


def _pages(limit, **kwargs):
    rows, marker = [], None
    while True:
        page = api.list_nodes(limit=limit, marker=marker, **kwargs)
        assert len(page) <= limit
        rows.extend(page)
        if len(page) < limit:
            return rows
        marker = page[-1]["uuid"]


@pytest.mark.parametrize("sort_key", ["id", "name", "power_state", "driver", "maintenance",
                                      "created_at"])
@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_list_nodes_keyset_pagination(database, sort_key, sort_dir):
    _populate()
    full = api.list_nodes(sort_key=sort_key, sort_dir=sort_dir)
    assert len(full) == 10
    # Nulls first ascending, last descending, ties broken by id, on every backend.
    values = [(row[sort_key] is not None, row[sort_key], row["id"]) for row in full]
    if sort_key == "id":
        values = [row["id"] for row in full]
    assert values == sorted(values, reverse=sort_dir == "desc")
    for limit in (1, 3, 4, 10):
        assert _ids(_pages(limit, sort_key=sort_key, sort_dir=sort_dir)) == _ids(full)


def test_list_nodes_pagination_with_filters(database):
    nodes = _populate()
    page1 = api.list_nodes({"driver": "ipmi"}, limit=2)
    page2 = api.list_nodes({"driver": "ipmi"}, limit=2, marker=page1[-1]["uuid"])
    assert _ids(page1 + page2) == _ids(nodes[1:9:2])


def test_list_nodes_bad_marker(database):
    with pytest.raises(exception.InvalidParameterValue):
        api.list_nodes(marker=str(uuid.uuid4()))


# -- leases ---------------------------------------------------------------------------

MINUTE = datetime.timedelta(minutes=1)
#: A duration that sets an expiry already past by the lease clock.
RUN_OUT = datetime.timedelta(seconds=-1)


def _expiry_within(node_id, owner, duration, call):
    """Run ``call()``; assert ``owner`` then holds ``node_id`` until the lease
    clock's now (read around the call) plus ``duration``."""
    before = api.lease_clock_now()
    assert call()
    after = api.lease_clock_now()
    holder, expires = api.get_reservation(node_id)
    assert holder == owner
    assert before + duration <= expires <= after + duration
    return expires


def test_reserve_two_owners(database):
    node = make_node()
    expires = _expiry_within(node["id"], "a", MINUTE,
                             lambda: api.reserve_node(node["id"], "a", MINUTE))
    assert not api.reserve_node(node["id"], "b", MINUTE)
    assert not api.reserve_and_get_node(node["id"], "b", MINUTE)
    assert api.get_reservation(node["id"]) == ("a", expires)
    assert not api.reserve_node(node["id"], "a", MINUTE)  # not re-entrant
    assert api.get_reservation(node["id"]) == ("a", expires)
    # An expiry given as a datetime is planted as is.
    assert api.release_node(node["id"], "a")
    assert api.reserve_node(node["id"], "a", LATER)
    assert api.get_reservation(node["id"]) == ("a", LATER)


def test_reserve_takes_over_expired_lease(database):
    node = make_node()
    assert api.reserve_node(node["id"], "a", RUN_OUT)
    _, expired = api.get_reservation(node["id"])
    assert expired < api.lease_clock_now()
    # a's expiry is past by the lease clock: b takes over, for a minute from it.
    _expiry_within(node["id"], "b", MINUTE,
                   lambda: api.reserve_node(node["id"], "b", MINUTE))
    assert not api.renew_reservation(node["id"], "a", MINUTE)
    assert not api.release_node(node["id"], "a")
    assert api.get_reservation(node["id"])[0] == "b"
    # b's live lease is not: neither by reserve_node nor on the hot path.
    assert not api.reserve_node(node["id"], "c", MINUTE)
    assert api.reserve_and_get_node(node["id"], "c", MINUTE) is None
    assert api.get_reservation(node["id"])[0] == "b"
    # A lease planted as expired a moment ago (a datetime) is taken over too.
    assert api.release_node(node["id"], "b")
    assert api.reserve_node(node["id"], "d", api.lease_clock_now() - MINUTE)
    assert api.reserve_and_get_node(node["id"], "e", MINUTE)["reservation"] == "e"


def test_renew_and_release_only_by_owner(database):
    node = make_node()
    assert api.reserve_node(node["id"], "a", MINUTE)
    _, first = api.get_reservation(node["id"])
    hour = datetime.timedelta(hours=1)
    assert not api.renew_reservation(node["id"], "b", hour)
    assert api.get_reservation(node["id"]) == ("a", first)
    expires = _expiry_within(node["id"], "a", hour,
                             lambda: api.renew_reservation(node["id"], "a", hour))
    assert expires > first
    assert not api.release_node(node["id"], "b")
    assert api.get_reservation(node["id"]) == ("a", expires)
    assert api.release_node(node["id"], "a")
    assert api.get_reservation(node["id"]) == (None, None)
    assert not api.release_node(node["id"], "a")
    assert not api.renew_reservation(node["id"], "a", hour)  # released: gone
    assert api.reserve_node(node["id"], "b", MINUTE)


def test_renew_reservations_pushes_from_the_lease_clock(database):
    nodes = [make_node() for _ in range(3)]
    for index, node in enumerate(nodes):
        assert api.reserve_node(node["id"], "o:%d" % index, MINUTE)
    hour = datetime.timedelta(hours=1)
    before = api.lease_clock_now()
    renewed = api.renew_reservations(
        [(nodes[0]["id"], "o:0"), (nodes[1]["id"], "o:1"), (nodes[2]["id"], "wrong")], hour)
    after = api.lease_clock_now()
    assert renewed == {nodes[0]["id"], nodes[1]["id"]}
    for node in nodes[:2]:
        assert before + hour <= api.get_reservation(node["id"])[1] <= after + hour
    assert api.get_reservation(nodes[2]["id"])[1] <= after + MINUTE


def test_release_reservations_with_prefix(database):
    nodes = [make_node() for _ in range(4)]
    assert api.reserve_node(nodes[0]["id"], "host-a:1", LATER, NOW)
    assert api.reserve_node(nodes[1]["id"], "host-a:2", LATER, NOW)
    assert api.reserve_node(nodes[2]["id"], "host-ab:1", LATER, NOW)
    assert api.release_reservations_with_prefix("host-a:") == _ids(nodes[:2])
    assert api.get_reservation(nodes[0]["id"]) == (None, None)
    assert api.get_reservation(nodes[2]["id"])[0] == "host-ab:1"
    assert api.release_reservations_with_prefix("host-a:") == []
    with pytest.raises(exception.Invalid):
        api.release_reservations_with_prefix("")


def test_clear_target_power_states(database):
    nodes = [make_node() for _ in range(4)]
    for node in nodes[:3]:
        api.update_node(node["id"], {"target_power_state": "power on"})
    assert api.clear_target_power_states([nodes[0]["id"], nodes[3]["id"]],
                                         last_error="boom") == [nodes[0]["id"]]
    assert api.get_node(nodes[0]["id"])["last_error"] == "boom"
    assert api.get_node(nodes[0]["id"])["target_power_state"] is None
    assert api.get_node(nodes[1]["id"])["target_power_state"] == "power on"
    assert api.clear_target_power_states() == _ids(nodes[1:3])
    cleared = api.get_node(nodes[1]["id"])
    assert cleared["target_power_state"] is None
    assert cleared["last_error"] == api.DEFAULT_CLEARED_TARGET_ERROR
    assert api.get_node(nodes[3]["id"])["last_error"] is None
    assert api.clear_target_power_states() == []
    assert api.clear_target_power_states([]) == []


def test_concurrent_reserve_one_winner(database):
    node = make_node()
    barrier = threading.Barrier(8)
    results = []

    def contend(owner):
        barrier.wait()
        results.append((owner, api.reserve_node(node["id"], owner, LATER, NOW)))

    threads = [threading.Thread(target=contend, args=("owner-%d" % i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [owner for owner, won in results if won]
    assert len(winners) == 1
    assert api.get_reservation(node["id"])[0] == winners[0]


def test_many_threads_write_without_errors(database):
    """16 threads x 50 writes (create/update/reserve/release), zero errors.

    On SQLite this is the proof that writers queue on BEGIN IMMEDIATE and
    never see 'database is locked'. The read-then-write transactions on a
    shared counter are the case a deferred BEGIN fails (SQLite refuses to
    upgrade a read transaction to a write one while another writer has
    committed, without waiting); the exact final count proves they were
    serialised, not merely error-free.
    """
    threads_count, writes = 16, 50
    shared = [make_node(name="shared-%d" % i) for i in range(4)]
    counter = make_node(name="counter")
    errors = []
    counts = [0] * threads_count
    barrier = threading.Barrier(threads_count)

    def worker(index):
        try:
            barrier.wait()
            owner = "worker-%d" % index
            mine = None
            for step in range(writes):
                kind = step % 5
                if kind == 0:
                    mine = make_node(name="t%d-%d" % (index, step))
                elif kind == 1:
                    api.update_node(mine["id"], {"power_state": "power on",
                                                 "driver_internal_info": {"step": step}})
                elif kind == 2:
                    target = shared[step % len(shared)]
                    if api.reserve_node(target["id"], owner, LATER, NOW):
                        api.update_node(target["id"], {"extra": {"by": owner}},
                                        expected_reservation=owner)
                        assert api.release_node(target["id"], owner)
                elif kind == 3:
                    assert api.reserve_node(mine["id"], owner, LATER, NOW)
                else:
                    assert api.release_node(mine["id"], owner)
                    api.get_node(mine["id"])
                    _increment(counter["id"])
                counts[index] += 1
        except Exception as error:  # collected: any error fails the test
            errors.append(repr(error))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert counts == [writes] * threads_count
    assert api.count_nodes() == len(shared) + 1 + threads_count * writes // 5
    assert api.count_nodes({"reserved": True}) == 0
    assert api.get_node(counter["id"])["power_sync_failures"] == threads_count * writes // 5


def _increment(node_id):
    """Read, then write, in one write transaction (FOR UPDATE on PostgreSQL)."""
    column = api.nodes.c.power_sync_failures
    with db_engine.writer() as conn:
        value = conn.execute(sa.select(column).where(api.nodes.c.id == node_id)
                             .with_for_update()).scalar_one()
        conn.execute(api.nodes.update().where(api.nodes.c.id == node_id)
                     .values(power_sync_failures=value + 1))


def test_sqlite_pragmas(sqlite_database):
    assert db_engine.is_sqlite()
    with db_engine.reader() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_sqlite_default_location(config, tmp_path):
    """No [database] connection: a file in state_path, directory created."""
    from hwdrivers.db import migration

    db_engine.dispose()
    try:
        migration.upgrade()
        make_node(name="default-db")
        assert (tmp_path / "state" / "hwdrivers.sqlite").exists()
    finally:
        db_engine.dispose()


def test_engine_transactions_are_real_on_sqlite(sqlite_database):
    """get_engine()/get_write_engine() users get BEGIN (the documented recipe)."""
    node = make_node(name="txn")
    with pytest.raises(RuntimeError):
        with db_engine.get_write_engine().begin() as conn:
            conn.execute(api.nodes.update().values(name="changed"))
            raise RuntimeError("roll back")
    assert api.get_node(node["id"])["name"] == "txn"


# -- ports ----------------------------------------------------------------------------

def test_port_crud(database):
    node = make_node()
    port = api.create_port({"node_id": node["id"], "address": "52:54:00:AB:CD:EF",
                            "extra": {"vif": 1}})
    assert port["address"] == "52:54:00:ab:cd:ef"
    assert uuid.UUID(port["uuid"])
    assert port["pxe_enabled"] is True
    assert port["extra"] == {"vif": 1}
    assert api.get_port(port["id"]) == port
    assert api.get_port(port["uuid"]) == port
    assert api.get_port("52:54:00:AB:CD:EF") == port
    updated = api.update_port(port["id"], {"pxe_enabled": False,
                                           "address": "52:54:00:AB:CD:00"})
    assert updated["pxe_enabled"] is False
    assert updated["address"] == "52:54:00:ab:cd:00"
    assert updated["updated_at"] is not None
    api.destroy_port(port["id"])
    with pytest.raises(exception.PortNotFound):
        api.get_port(port["id"])
    with pytest.raises(exception.PortNotFound):
        api.destroy_port(port["id"])
    with pytest.raises(exception.PortNotFound):
        api.update_port(port["id"], {"pxe_enabled": True})


@pytest.mark.parametrize("address", ["52:54:00:ab:cd", "52-54-00-ab-cd-ef", "zz:54:00:ab:cd:ef",
                                     "", None, 5])
def test_port_invalid_address(database, address):
    node = make_node()
    with pytest.raises(exception.InvalidParameterValue) as info:
        api.create_port({"node_id": node["id"], "address": address})
    assert "address" in str(info.value)


def test_port_duplicate_address(database):
    node = make_node()
    api.create_port({"node_id": node["id"], "address": "52:54:00:00:00:01"})
    with pytest.raises(exception.PortAlreadyExists) as info:
        api.create_port({"node_id": node["id"], "address": "52:54:00:00:00:01"})
    assert "52:54:00:00:00:01" in str(info.value)
    other = api.create_port({"node_id": node["id"], "address": "52:54:00:00:00:02"})
    with pytest.raises(exception.PortAlreadyExists):
        api.update_port(other["id"], {"address": "52:54:00:00:00:01"})


def test_port_for_missing_node(database):
    with pytest.raises(exception.NodeNotFound):
        api.create_port({"node_id": 777, "address": "52:54:00:00:00:01"})


def test_get_port_not_found(database):
    for ident in (1, str(uuid.uuid4()), "52:54:00:00:00:09", "junk"):
        with pytest.raises(exception.PortNotFound):
            api.get_port(ident)


def test_list_ports(database):
    node_a, node_b = make_node(), make_node()
    ports = [api.create_port({"node_id": (node_a if i % 2 else node_b)["id"],
                              "address": "52:54:00:00:00:%02x" % i}) for i in range(6)]
    assert api.list_ports() == ports
    assert api.list_ports(node_id=node_a["id"]) == ports[1::2]
    assert api.list_ports(limit=2) == ports[:2]
    assert api.list_ports(limit=2, marker=ports[1]["uuid"]) == ports[2:4]
    assert api.list_ports(node_id=node_b["id"], marker=ports[2]["uuid"]) == [ports[4]]
    with pytest.raises(exception.InvalidParameterValue):
        api.list_ports(marker=str(uuid.uuid4()))


# -- conductors -------------------------------------------------------------------------

def test_conductors(database):
    first = api.register_conductor("host-b", ["ipmi", "fake-hardware"])
    assert first["online"] is True
    assert first["hardware_types"] == ["ipmi", "fake-hardware"]
    assert first["created_at"] is not None and first["updated_at"] is not None
    api.register_conductor("host-a", [])
    assert [c["hostname"] for c in api.list_conductors()] == ["host-a", "host-b"]

    api.unregister_conductor("host-b")
    assert api.get_conductor("host-b")["online"] is False
    again = api.register_conductor("host-b", ["redfish"])
    assert again["id"] == first["id"]
    assert again["online"] is True
    assert again["hardware_types"] == ["redfish"]
    assert again["created_at"] == first["created_at"]
    assert len(api.list_conductors()) == 2

    before = api.get_conductor("host-a")["updated_at"]
    api.touch_conductor("host-a")
    assert api.get_conductor("host-a")["updated_at"] >= before


def test_conductor_not_found(database):
    for call in (api.get_conductor, api.touch_conductor, api.unregister_conductor):
        with pytest.raises(exception.ConductorNotFound):
            call("ghost")


def test_reserve_and_get_node_by_every_identifier(database):
    node = api.create_node({"driver": "fake-hardware", "name": "rg1"})
    for ident in (node["id"], node["uuid"].upper(), "rg1"):
        row = api.reserve_and_get_node(ident, "me:1", LATER, NOW)
        assert row["id"] == node["id"] and row["reservation"] == "me:1"
        # Held: a second owner gets nothing and the lease is unchanged.
        assert api.reserve_and_get_node(ident, "other:2", LATER, NOW) is None
        assert api.get_reservation(node["id"])[0] == "me:1"
        assert api.release_node(node["id"], "me:1")
    assert api.reserve_and_get_node("no-such-node", "me:1", LATER, NOW) is None
    # An expired lease is taken over.
    assert api.reserve_node(node["id"], "old:1", RUN_OUT)
    row = api.reserve_and_get_node("rg1", "new:1", MINUTE)
    assert row["reservation"] == "new:1"


def test_abandon_leases_clears_targets_then_releases_only_that_prefix(database):
    mine = [make_node(name="ab%d" % i) for i in range(2)]
    other = make_node(name="ab-other")
    for index, node in enumerate(mine):
        assert api.reserve_node(node["id"], "host:p_1-%d" % index, LATER, NOW)
    api.update_node(mine[0]["id"], {"target_power_state": "power on"})
    # A LIKE wildcard in the prefix matches nothing but itself.
    assert api.reserve_node(other["id"], "host:pX1-9", LATER, NOW)
    api.update_node(other["id"], {"target_power_state": "power off"})
    cleared, released = api.abandon_leases("host:p_1-", "gone")
    assert cleared == [mine[0]["id"]]
    assert released == sorted(n["id"] for n in mine)
    first = api.get_node(mine[0]["id"])
    assert first["target_power_state"] is None and first["last_error"] == "gone"
    assert first["reservation"] is None
    assert api.get_node(mine[1]["id"])["last_error"] is None
    untouched = api.get_node(other["id"])
    assert untouched["reservation"] == "host:pX1-9"
    assert untouched["target_power_state"] == "power off"
    with pytest.raises(exception.Invalid):
        api.abandon_leases("", "gone")


def test_leases_are_renewed_together_in_one_call(database):
    held = [api.create_node({"driver": "fake-hardware", "name": "r%d" % i}) for i in range(3)]
    for index, node in enumerate(held):
        assert api.reserve_node(node["id"], "owner-%d" % index, LATER, NOW)
    lost = api.create_node({"driver": "fake-hardware", "name": "lost"})
    assert api.reserve_node(lost["id"], "someone-else", LATER, NOW)
    leases = [(node["id"], "owner-%d" % i) for i, node in enumerate(held)]
    leases.append((lost["id"], "owner-x"))
    later_still = LATER + datetime.timedelta(seconds=60)
    assert api.renew_reservations(leases, later_still) == {n["id"] for n in held}
    assert api.get_reservation(lost["id"])[1] != later_still
    assert api.renew_reservations([], later_still) == set()


def test_json_columns_read_back_as_fresh_values(sqlite_database):
    """The empty-object shortcut of engine.json_loads hands each reader its own dict."""
    first, second = db_engine.json_loads("{}"), db_engine.json_loads("{}")
    assert first == {} and first is not second
    assert db_engine.json_loads('{"a": [1, null]}') == {"a": [1, None]}
    assert db_engine.json_loads("[]") == [] and db_engine.json_loads("null") is None
    created = api.create_node({"driver": "fake-hardware", "name": "j1",
                                  "extra": {}, "properties": {"cpus": 2 ** 70}})
    listed = {n["name"]: n for n in api.list_nodes()}["j1"]
    assert listed["extra"] == {} and listed["properties"] == {"cpus": 2 ** 70}
    listed["extra"]["k"] = "v"  # a reader's change stays its own
    again = {n["name"]: n for n in api.list_nodes()}["j1"]
    assert again["extra"] == {} and created["uuid"] == again["uuid"]


def test_a_host_lock_is_held_by_one_session(database):
    """PostgreSQL's advisory lock of a [DEFAULT] host: one process per host name."""
    if database != "postgresql":
        pytest.skip("SQLite: one server per file, locked by hwdrivers-server itself")
    first = db_engine.try_host_lock("lock-a")
    assert first is not None
    try:
        assert db_engine.try_host_lock("lock-a") is None
        other = db_engine.try_host_lock("lock-b")
        assert other is not None
        other.close()
    finally:
        first.close()  # as when its process ends: the server drops the lock
    again = db_engine.try_host_lock("lock-a")
    assert again is not None
    again.close()
    # The schema is part of the key: another deployment's c1 is not this one's.
    assert db_engine.host_lock_key("c1", "a") != db_engine.host_lock_key("c1", "b")
