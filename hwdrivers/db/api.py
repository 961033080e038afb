"""The database API: plain functions over the tables, returning plain dicts.

Every function runs its own short transaction and returns column name ->
value dicts, never ORM objects, so results can cross threads, be cached or
serialised without a session behind them. Statements are SQLAlchemy Core on
the tables of :mod:`hwdrivers.db.models`; the hot ones (the lease
compare-and-set family) are built once at import and only re-bound per call,
because the conductor runs them for every task.

Writes go through :func:`engine.writer` (``BEGIN IMMEDIATE`` on SQLite, see
:mod:`hwdrivers.db.engine`), reads through :func:`engine.reader`.

Datetimes are naive UTC.

driver_info secrets are encrypted here, at the boundary: every write seals
the fields drivers declare secret and every node read opens them
(:mod:`hwdrivers.common.secrets`), so the rows on disk hold only Fernet
tokens while every caller above sees plain values.
"""

import datetime
import functools
import logging
import os
import re
import uuid as uuid_lib

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles as sa_compiles
from oslo_config import cfg

from hwdrivers.common import exception
from hwdrivers.common import node_secrets
from hwdrivers.common import secrets
from hwdrivers.db import engine as db_engine
from hwdrivers.db import models
from hwdrivers.db import prepared

LOG = logging.getLogger(__name__)

nodes = models.nodes
ports = models.ports
conductors = models.conductors

_UNSET = object()

#: Columns list_nodes() can sort by (each paginates by it, then by id).
SORT_KEYS = ("id", "uuid", "name", "driver", "provision_state", "power_state",
             "maintenance", "created_at", "updated_at", "conductor_group", "fault",
             "provision_updated_at", "target_power_state", "target_provision_state",
             "maintenance_reason", "console_enabled", "reservation", "last_error",
             "automated_clean")

#: Filters list_nodes()/count_nodes() accept.
NODE_FILTERS = ("driver", "maintenance", "provision_state", "power_state", "reserved",
                "reservation_owner_prefix", "uuids", "ids", "name", "conductor_group",
                "fault")

NODE_COLUMNS = frozenset(nodes.c.keys())
PORT_COLUMNS = frozenset(ports.c.keys())

#: Set by the database itself; create/update refuse them.
_NODE_READ_ONLY = frozenset(("id",))
#: ``provision_updated_at`` is written with ``provision_state`` (see
#: :func:`_provision_stamp`); a copy of a node (create) may carry it.
_NODE_IMMUTABLE = frozenset(("id", "uuid", "created_at", "provision_updated_at"))
_PORT_READ_ONLY = frozenset(("id",))
_PORT_IMMUTABLE = frozenset(("id", "uuid", "created_at"))

_JSON_NODE_FIELDS = ("driver_info", "driver_internal_info", "instance_info",
                     "properties", "extra")

_MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")

DEFAULT_CLEARED_TARGET_ERROR = (
    "The conductor restarted while this power action was in progress; the "
    "target power state was cleared. Check the power state and retry.")


def utcnow():
    """Naive UTC now, the form every datetime column stores."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _is_uuid(value):
    try:
        return str(uuid_lib.UUID(value)) == value.lower()
    except (ValueError, AttributeError, TypeError):
        return False


def _as_dict(row):
    return dict(row._mapping)


def _keyring(create=False):
    return secrets.keyring(cfg.CONF.secrets.key_file, create=create)


def _key_file_ring():
    """The key ring of ``[secrets] key_file``; its file is created when there is
    none only while the database holds no encrypted value (see below): for
    ``reencrypt-secrets``, which reports what the ring cannot open."""
    path = cfg.CONF.secrets.key_file
    if (not secrets.is_loaded(path) and not os.path.lexists(path)
            and find_sealed_node() is not None):
        return _keyring(create=False)  # raises: the file does not exist
    return _keyring(create=True)


def _sealing_keyring():
    """The key ring that encrypts, checked once per process before its first seal.

    A key file that does not serve the values already stored must not
    seal new ones: a lost or moved file (a restore, a typo in ``[secrets]
    key_file``) replaced by a fresh key, or another installation's file,
    would seal every value written from now on with a key the old values
    do not open, and putting the right file back would make the new ones
    unreadable instead. So, as :func:`check_secrets_key` does at the
    service's start (the local CLI has no other), the file must exist and
    open one stored value; with none stored, a missing file is created.
    ``reencrypt-secrets --forget-unreadable`` is the way to start over.
    """
    path = cfg.CONF.secrets.key_file
    if secrets.is_loaded(path):
        return _keyring()
    try:
        return check_secrets_key()
    except secrets.SecretUnreadable as exc:
        raise secrets.KeyFileError(
            "%s does not open the secrets already stored (%s), so it must not encrypt "
            "new ones: set [secrets] key_file to the key file these were sealed with "
            "(hwdrivers-dbsync reencrypt-secrets --forget-unreadable starts over with "
            "this one, dropping what it cannot open)" % (path, exc)) from None


def _node_dict(row, keys=None, **unreadable):
    """A node row as a dict, its driver_info secrets decrypted.

    A node without encrypted values costs one pass over its driver_info;
    one with them, a cache lookup per value once it has been read.
    ``keys`` (the result's column names) spares each row of a listing
    building its own key view (a tenth of a 1,000-node page).
    ``unreadable=V``: a secret that cannot be opened reads as V instead of
    raising SecretUnreadable (see :func:`list_nodes`).
    """
    values = dict(zip(keys, row)) if keys is not None else dict(row._mapping)
    info = values.get("driver_info")
    if info:
        values["driver_info"] = secrets.open_fields(
            info, _keyring, values.get("name") or values.get("uuid"), **unreadable)
    return values


def _readable_node_dicts(result):
    """Node dicts of a ``result``, leaving out (and logging) those whose secrets are unreadable.

    For the periodic work over every node: one node whose key was lost must
    not stop the power sync of all the others; it is named in the log each
    time, and a request for it gets the same error as HTTP 503.
    """
    found = []
    keys = tuple(result.keys())
    for row in result:
        try:
            found.append(_node_dict(row, keys))
        except secrets.SecretUnreadable as exc:
            LOG.error("Skipped: %s", exc)
    return found


def _seal(values):
    """``values`` with driver_info's declared secrets encrypted (a copy if changed)."""
    info = values.get("driver_info")
    if info:
        values["driver_info"] = secrets.seal_fields(info, _sealing_keyring)
    return values


def _conflicting_field(error, candidates, table):
    """Which unique column an IntegrityError is about, or None.

    SQLite says ``UNIQUE constraint failed: nodes.name``; PostgreSQL names the
    constraint (``uniq_nodes0name``, from models.NAMING_CONVENTION).
    """
    text = str(getattr(error, "orig", error)).lower()
    diag = getattr(getattr(error, "orig", None), "diag", None)
    constraint = (getattr(diag, "constraint_name", None) or "").lower()
    for field in candidates:
        if ("%s.%s" % (table, field) in text
                or constraint == "uniq_%s0%s" % (table, field)
                or "uniq_%s0%s" % (table, field) in text):
            return field
    return None


def _is_unique_violation(error):
    text = str(getattr(error, "orig", error)).lower()
    return "unique" in text or "duplicate key" in text


def _check_columns(values, allowed, refused, what):
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise exception.Invalid(
            reason="unknown %s field(s) %s; valid fields: %s"
            % (what, ", ".join(unknown), ", ".join(sorted(allowed - refused))))
    bad = sorted(set(values) & refused)
    if bad:
        raise exception.Invalid(
            reason="%s field(s) %s cannot be set" % (what, ", ".join(bad)))


# -- nodes ----------------------------------------------------------------------

_GET_NODE_BY_ID = sa.select(nodes).where(nodes.c.id == sa.bindparam("ident"))
_GET_NODE_BY_UUID = sa.select(nodes).where(nodes.c.uuid == sa.bindparam("ident"))
_GET_NODE_BY_NAME = sa.select(nodes).where(nodes.c.name == sa.bindparam("ident"))


#: The column each of the selects above matches ``ident`` on.
_IDENT_COLUMNS = {_GET_NODE_BY_ID: nodes.c.id, _GET_NODE_BY_UUID: nodes.c.uuid,
                  _GET_NODE_BY_NAME: nodes.c.name}

#: What ``GET /v1/nodes/<node>/states`` shows, and what names the node.
STATE_COLUMNS = ("id", "uuid", "name", "power_state", "target_power_state",
                 "provision_state", "target_provision_state", "provision_updated_at",
                 "last_error", "console_enabled")
_GET_STATES = {
    query: prepared.Prepared(sa.select(*(nodes.c[name] for name in STATE_COLUMNS))
                             .where(column == sa.bindparam("ident")))
    for query, column in _IDENT_COLUMNS.items()}


def get_node_states(ident):
    """The node's states (:data:`STATE_COLUMNS`) by id, UUID or name; NodeNotFound.

    What a client polling an action reads, many times per action: one short
    statement for seven plain columns, never the JSON columns or driver_info.
    """
    query, value = _node_lookup(ident)
    with db_engine.raw_transaction(write=False, single=True) as txn:
        row = _GET_STATES[query].first(txn, {"ident": value})
    if row is None:
        raise exception.NodeNotFound(node=ident)
    return prepared.resolve_all(row)


def _node_lookup(ident):
    """``(the select of _node_query, the value it matches)``: UUIDs in lower case."""
    query = _node_query(ident)
    return query, ident.lower() if query is _GET_NODE_BY_UUID else ident


def _node_query(ident):
    """The prepared select for ``ident``: int id, UUID string or name."""
    if isinstance(ident, int) and not isinstance(ident, bool):
        return _GET_NODE_BY_ID
    if not isinstance(ident, str) or not ident:
        raise exception.NodeNotFound(node=ident)
    if _is_uuid(ident):
        return _GET_NODE_BY_UUID
    return _GET_NODE_BY_NAME


def create_node(values):
    """Insert a node; returns the stored row.

    ``uuid`` is generated if absent; ``driver`` is required. A duplicate
    uuid or name raises NodeAlreadyExists naming the field.
    """
    values = dict(values)
    _check_columns(values, NODE_COLUMNS, _NODE_READ_ONLY, "node")
    if not values.get("driver"):
        raise exception.MissingParameterValue(errors=["node field driver is required"])
    if values.get("uuid") is None:
        values["uuid"] = str(uuid_lib.uuid4())
    elif not _is_uuid(values["uuid"]):
        raise exception.InvalidParameterValue(
            errors=["node uuid %r is not a UUID" % values["uuid"]])
    else:
        values["uuid"] = values["uuid"].lower()
    if values.get("name") is not None and _is_uuid(values["name"]):
        raise exception.InvalidParameterValue(
            errors=["node name %r looks like a UUID; names and UUIDs must be "
                    "distinguishable" % values["name"]])
    for field in _JSON_NODE_FIELDS:
        if values.get(field, _UNSET) is None:
            values[field] = {}
    now = utcnow()
    values.setdefault("created_at", now)
    stored = _seal(dict(values))
    try:
        with db_engine.writer() as conn:
            row = conn.execute(nodes.insert().values(**stored).returning(*nodes.c)).one()
    except sa.exc.IntegrityError as error:
        field = _conflicting_field(error, ("uuid", "name"), "nodes")
        if field is None:
            raise
        raise exception.NodeAlreadyExists(field=field, value=values[field]) from None
    return _node_dict(row)


def get_node(ident):
    """A node by int id, UUID or name; NodeNotFound if there is none."""
    query, value = _node_lookup(ident)
    with db_engine.reader() as conn:
        row = conn.execute(query, {"ident": value}).first()
    if row is None:
        raise exception.NodeNotFound(node=ident)
    return _node_dict(row)


def _node_filters(query, filters):
    if not filters:
        return query
    unknown = sorted(set(filters) - set(NODE_FILTERS))
    if unknown:
        raise exception.Invalid(
            reason="unknown node filter(s) %s; valid filters: %s"
            % (", ".join(unknown), ", ".join(NODE_FILTERS)))
    for key, value in filters.items():
        if key in ("driver", "provision_state", "power_state", "name", "conductor_group",
                   "fault"):
            query = query.where(nodes.c[key] == value)
        elif key == "maintenance":
            query = query.where(nodes.c.maintenance == bool(value))
        elif key == "reserved":
            column = nodes.c.reservation
            query = query.where(column.is_not(None) if value else column.is_(None))
        elif key == "reservation_owner_prefix":
            query = query.where(nodes.c.reservation.startswith(value, autoescape=True))
        elif key == "uuids":
            query = query.where(nodes.c.uuid.in_([u.lower() for u in value]))
        elif key == "ids":
            query = query.where(nodes.c.id.in_(list(value)))
    return query


def _keyset_after(column, value, marker_id, ascending, id_col=None):
    """Rows strictly after (value, marker_id) in the order list_nodes uses.

    NULLs sort first ascending and last descending on every backend (SQLite's
    native order; PostgreSQL is told explicitly), so pages never skip or
    repeat rows whose sort column is NULL. ``id_col``: the table's id
    (the nodes' by default).
    """
    if id_col is None:
        id_col = nodes.c.id
    if ascending:
        if value is None:
            return sa.or_(sa.and_(column.is_(None), id_col > marker_id), column.is_not(None))
        value = sa.literal(value, type_=column.type)  # `column > True` is refused otherwise
        return sa.or_(column > value, sa.and_(column == value, id_col > marker_id))
    if value is None:
        return sa.and_(column.is_(None), id_col < marker_id)
    value = sa.literal(value, type_=column.type)  # `column > True` is refused otherwise
    return sa.or_(column < value, sa.and_(column == value, id_col < marker_id),
                  column.is_(None))


def list_nodes(filters=None, limit=None, marker=None, sort_key="id", sort_dir="asc"):
    """Nodes matching ``filters``, one page of ``limit`` after node ``marker``.

    ``marker`` is the UUID of the last node of the previous page (keyset
    pagination: stable while rows are added or removed, and cheap at any
    depth). A secret that cannot be decrypted (its key lost) reads as
    ``******``, as every view shows it: one such node failed every listing
    with its 503, the API's, the CLI's and the conductor's periodic ones.
    Showing it, or acting on it, still opens it, and fails naming it.
    """
    if sort_key not in SORT_KEYS:
        raise exception.Invalid(
            reason="cannot sort nodes by %r; allowed sort keys: %s"
            % (sort_key, ", ".join(SORT_KEYS)))
    if sort_dir not in ("asc", "desc"):
        raise exception.Invalid(
            reason="sort direction %r is not one of asc, desc" % (sort_dir,))
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise exception.Invalid(reason="limit must be a non-negative integer")
    ascending = sort_dir == "asc"
    column = nodes.c[sort_key]
    query = _node_filters(sa.select(nodes), filters)
    with db_engine.reader() as conn:
        if marker is not None:
            marker_row = conn.execute(
                sa.select(column, nodes.c.id).where(
                    nodes.c.uuid == str(marker).lower())).first()
            if marker_row is None:
                raise exception.InvalidParameterValue(
                    errors=["marker %s is not the UUID of an existing node" % marker])
            if sort_key == "id":
                query = query.where(nodes.c.id > marker_row[1] if ascending
                                    else nodes.c.id < marker_row[1])
            else:
                query = query.where(
                    _keyset_after(column, marker_row[0], marker_row[1], ascending))
        if sort_key == "id":
            order = [nodes.c.id.asc() if ascending else nodes.c.id.desc()]
        elif ascending:
            order = [column.asc().nulls_first(), nodes.c.id.asc()]
        else:
            order = [column.desc().nulls_last(), nodes.c.id.desc()]
        query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        result = conn.execute(query)
        keys = tuple(result.keys())
        return [_node_dict(row, keys, unreadable=node_secrets.MASK) for row in result]


def count_nodes(filters=None):
    """How many nodes match ``filters`` (same keys as list_nodes)."""
    query = _node_filters(sa.select(sa.func.count()).select_from(nodes), filters)
    with db_engine.reader() as conn:
        return conn.execute(query).scalar_one()


#: What a node's place on the hash ring is made of, besides its UUID: the
#: group picks the ring, driver and ``<kind>_interface`` the interfaces,
#: whose ``controller_key`` reads driver_info (conductor/hash_ring.py).
RING_KEY_COLUMNS = ("conductor_group", "driver", "driver_info") + models.INTERFACE_COLUMNS


def node_ring_inputs(conductor_groups):
    """The nodes of ``conductor_groups``, grouped by :data:`RING_KEY_COLUMNS`.

    For counting each conductor's nodes at any fleet size: one aggregate
    query reading only the columns a ring key is made of, not whole rows
    with their five JSON documents (``GET /v1/conductors`` took 1.8 s at
    10,000 nodes that way). Each row: those columns (driver_info decoded
    but left sealed: a controller key never reads a secret) and ``uuids``,
    the nodes that share them.
    """
    groups = sorted(set(conductor_groups))
    if not groups:
        return []
    info = sa.cast(nodes.c.driver_info, sa.Text)
    keys = [info.label("driver_info") if name == "driver_info" else nodes.c[name]
            for name in RING_KEY_COLUMNS]
    query = (sa.select(*keys, sa.func.aggregate_strings(nodes.c.uuid, ",").label("uuids"))
             .where(nodes.c.conductor_group.in_(groups))
             .group_by(*(info if name == "driver_info" else nodes.c[name]
                         for name in RING_KEY_COLUMNS)))
    with db_engine.reader() as conn:
        result = conn.execute(query)
        names = tuple(result.keys())
        rows = [dict(zip(names, row)) for row in result.all()]
    for row in rows:
        row["driver_info"] = db_engine.json_loads(row["driver_info"] or "{}") or {}
        row["uuids"] = row["uuids"].split(",")
    return rows


def nodes_with_driver_info_key(key):
    """The nodes whose driver_info has ``key``: their uuid, name, driver,
    power_interface and driver_info, the latter decoded but left sealed.

    For finding a node by plain (non-secret) driver_info values at fleet
    size, as the PDUDaemon listener finds the node behind an outlet: the
    text match leaves out the nodes that cannot match in SQL, and no secret
    is opened, nor a whole row with its five JSON documents built, for the
    ones that can. The match is on the key's JSON text (``"key"``), so it
    may also keep a node holding that text as a value: callers check the
    decoded driver_info.
    """
    info = sa.cast(nodes.c.driver_info, sa.Text)
    query = (sa.select(nodes.c.uuid, nodes.c.name, nodes.c.driver, nodes.c.power_interface,
                       info.label("driver_info"))
             .where(info.contains('"%s"' % key, autoescape=True)).order_by(nodes.c.id))
    with db_engine.reader() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        row["driver_info"] = db_engine.json_loads(row["driver_info"] or "{}") or {}
    return rows


def _node_label(conn, node_id):
    row = conn.execute(sa.select(nodes.c.name, nodes.c.uuid).where(
        nodes.c.id == node_id)).first()
    if row is None:
        return None
    return row.name or row.uuid


def _provision_stamp(statement_values, state, now):
    """Add ``provision_updated_at`` to an UPDATE's values that set ``provision_state``.

    ``state`` and ``now`` are the statement's bind parameters for the new
    state and the moment. The stamp moves only when the state really
    changes, compared with the row's current state inside the statement
    itself: a task that saves its node with the state it already had
    (its fields are marked changed when assigned, equal or not) must not
    make a node stuck in ``deploying`` look as if it had just got there.
    """
    if "provision_state" in statement_values:
        statement_values["provision_updated_at"] = sa.case(
            (nodes.c.provision_state != state, now), else_=nodes.c.provision_updated_at)
    return statement_values


_update_node_statements = {}


def _update_node_statement(columns, reservation_check):
    """The UPDATE ... RETURNING for this set of columns, built once.

    Building a 35-column RETURNING statement costs more than running it, and
    callers update the same few column sets over and over (power state, the
    lease-guarded save), so statements are cached by shape; values are bound.
    """
    key = (columns, reservation_check)
    stmt = _update_node_statements.get(key)
    if stmt is None:
        stmt = nodes.update().where(nodes.c.id == sa.bindparam("node_id"))
        if reservation_check == "null":
            stmt = stmt.where(nodes.c.reservation.is_(None))
        elif reservation_check == "owner":
            stmt = stmt.where(nodes.c.reservation == sa.bindparam("expected_owner"))
        values = {name: sa.bindparam("v_" + name, type_=nodes.c[name].type)
                  for name in columns}
        stmt = stmt.values(_provision_stamp(
            values, values.get("provision_state"), values["updated_at"])
        ).returning(*nodes.c)
        if len(_update_node_statements) >= 512:  # bounded: shapes come from callers
            _update_node_statements.clear()
        _update_node_statements[key] = stmt
    return stmt


def update_node(node_id, values, expected_reservation=_UNSET):
    """Set ``values`` on node ``node_id`` (int id); returns the updated row.

    With ``expected_reservation`` the update only happens while the node's
    reservation still equals it (``None`` = unreserved), in the same
    statement, so a task whose lease expired and was taken over cannot
    overwrite the new holder's work: it gets LeaseLost instead.
    """
    values = dict(values)
    _check_columns(values, NODE_COLUMNS, _NODE_IMMUTABLE, "node")
    if values.get("name") is not None and _is_uuid(values["name"]):
        raise exception.InvalidParameterValue(
            errors=["node name %r looks like a UUID; names and UUIDs must be "
                    "distinguishable" % values["name"]])
    values.setdefault("updated_at", utcnow())
    params = {"v_" + name: value for name, value in _seal(dict(values)).items()}
    params["node_id"] = node_id
    if expected_reservation is _UNSET:
        check = None
    elif expected_reservation is None:
        check = "null"
    else:
        check = "owner"
        params["expected_owner"] = expected_reservation
    stmt = _update_node_statement(tuple(sorted(values)), check)
    label = None
    try:
        with db_engine.writer() as conn:
            row = conn.execute(stmt, params).first()
            if row is None:
                label = _node_label(conn, node_id)
    except sa.exc.IntegrityError as error:
        if _conflicting_field(error, ("name",), "nodes") == "name":
            raise exception.NodeAlreadyExists(field="name", value=values["name"]) from None
        raise
    if row is None:
        if label is None:
            raise exception.NodeNotFound(node=node_id)
        raise exception.LeaseLost(node=label, holder=expected_reservation)
    return _node_dict(row)


#: A name change can collide with another node's: update_node reports that.
_NOT_WRITTEN_BY_TASKS = _NODE_IMMUTABLE | {"name"}


@functools.lru_cache(maxsize=512)  # bounded: shapes come from callers
def _write_node_statement(columns, release):
    """The lease-guarded UPDATE (no RETURNING) for this set of columns, prepared once."""
    values = {name: sa.bindparam("v_" + name, type_=nodes.c[name].type)
              for name in columns}
    _provision_stamp(values, values.get("provision_state"), values["updated_at"])
    if release:
        values.update(reservation=None, reservation_expires=None)
    return prepared.Prepared(
        nodes.update()
        .where(nodes.c.id == sa.bindparam("node_id"))
        .where(nodes.c.reservation == sa.bindparam("expected_owner"))
        .values(values))


def write_node(node_id, values, owner, release=False, txn=None):
    """Set ``values`` on node ``node_id`` while ``owner`` holds its lease.

    The conductor's hot write: a task publishing its target (inside the
    lease's own transaction, ``txn`` from :func:`write_transaction`) or
    recording its outcome, ``release=True`` dropping the lease in the same
    statement. Unlike :func:`update_node` it returns nothing: the task
    already holds every value it wrote (``updated_at`` is returned, the
    one it did not choose). LeaseLost when ``owner`` no longer holds the
    lease, NodeNotFound when the node is gone.
    """
    values = dict(values)
    _check_columns(values, NODE_COLUMNS, _NOT_WRITTEN_BY_TASKS, "node")
    values.setdefault("updated_at", utcnow())
    params = {"v_" + name: value for name, value in _seal(dict(values)).items()}
    params["node_id"] = node_id
    params["expected_owner"] = owner
    stmt = _write_node_statement(tuple(sorted(values)), release)
    if txn is not None:
        changed = stmt.rowcount(txn, params)
    else:
        with db_engine.raw_transaction(single=True) as own:
            changed = stmt.rowcount(own, params)
    if changed != 1:
        with db_engine.reader() as conn:
            label = _node_label(conn, node_id)
        if label is None:
            raise exception.NodeNotFound(node=node_id)
        raise exception.LeaseLost(node=label, holder=owner)
    return values["updated_at"]


def destroy_node(node_id, owner=None):
    """Delete node ``node_id`` and (by ON DELETE CASCADE) its ports.

    With ``owner``, only while that lease holds: the delete is the task's
    last write, and a task whose lease expired or was taken over must not
    delete a node another conductor is working on (LeaseLost).
    """
    query = nodes.delete().where(nodes.c.id == node_id)
    if owner is not None:
        query = query.where(nodes.c.reservation == owner)
    with db_engine.writer() as conn:
        deleted = conn.execute(query).rowcount
        if deleted != 1 and owner is not None:
            holder = conn.execute(_GET_RESERVATION, {"node_id": node_id}).first()
            if holder is not None:
                raise exception.LeaseLost(node=node_id, holder=owner)
    if deleted != 1:
        raise exception.NodeNotFound(node=node_id)


# -- leases ---------------------------------------------------------------------
# Each is one compare-and-set UPDATE: the WHERE clause is the whole protocol,
# so two conductors racing for a node need no other coordination.
#
# One clock judges every lease, the database's (as conductor heartbeats):
# judged by each process's own, a conductor whose clock ran ahead of the
# others by more than lease_duration took live leases (it saw them expired),
# and one running behind set expiries already past for the others. The
# clock is read inside the statement that compares or sets an expiry, so it
# costs no round trip. SQLite has one process: its clock is that one, bound
# per statement.


class _LeaseNow(sa.sql.expression.ColumnElement):
    """The lease clock's now (naive UTC): PostgreSQL's, or SQLite's process's."""

    type = sa.DateTime()
    inherit_cache = True


class _LeaseExpiry(sa.sql.expression.ColumnElement):
    """The lease clock's now plus ``lease_duration`` (a bound timedelta)."""

    type = sa.DateTime()
    inherit_cache = True


def _local_now():
    return utcnow()  # looked up per call: tests move the process's clock


@sa_compiles(_LeaseNow)
def _lease_now_local(element, compiler, **kw):
    # A default a caller's ``lease_now`` overrides (a prepared statement's).
    return compiler.process(sa.bindparam("lease_now", type_=sa.DateTime(),
                                         callable_=_local_now), **kw)


@sa_compiles(_LeaseNow, "postgresql")
def _lease_now_db(element, compiler, **kw):
    # now() is the transaction's start: never later than the statement, so a
    # lease is judged expired no sooner and set to expire no later than due.
    return "timezone('UTC', now())"


@sa_compiles(_LeaseExpiry)
def _lease_expiry_local(element, compiler, **kw):
    return compiler.process(_given_expiry(), **kw)


@sa_compiles(_LeaseExpiry, "postgresql")
def _lease_expiry_db(element, compiler, **kw):
    duration = compiler.process(sa.bindparam("lease_duration", type_=sa.Interval()), **kw)
    return "(timezone('UTC', now()) + %s)" % duration


def _given_expiry():
    """An expiry bound as given (a datetime), whatever the lease clock says."""
    return sa.bindparam("lease_expires", type_=sa.DateTime())


def _lease_terms(expires):
    """``(expiry expression, its parameters)`` for ``expires``.

    A timedelta (what conductors pass: ``lease_duration``) is counted from
    the lease clock's now; a datetime is that expiry as is (tests and tools
    planting a lease that runs out at a given time).
    """
    now = utcnow()
    if isinstance(expires, datetime.timedelta):
        return _LeaseExpiry(), {"lease_now": now, "lease_expires": now + expires,
                                "lease_duration": expires}
    return _given_expiry(), {"lease_now": now, "lease_expires": expires}


def lease_clock_now():
    """The lease clock's now (naive UTC): what lease expiries are compared with.

    The database's clock on PostgreSQL (one statement), this process's on
    SQLite. For callers comparing a read expiry (tests, tools), never for
    a statement's own condition, which reads the clock itself.
    """
    if db_engine.is_sqlite():
        return utcnow()
    with db_engine.reader() as conn:
        return conn.execute(sa.select(_LeaseNow())).scalar_one()


def _expired_or_free():
    """The condition under which anyone may take a node's lease."""
    return sa.or_(nodes.c.reservation.is_(None),
                  nodes.c.reservation_expires.is_(None),
                  nodes.c.reservation_expires < _LeaseNow())


@functools.lru_cache(maxsize=2)
def _reserve(relative):
    """The reserve UPDATE, its expiry counted from the lease clock or bound as is."""
    expiry = _LeaseExpiry() if relative else _given_expiry()
    return (nodes.update()
            .where(nodes.c.id == sa.bindparam("node_id"))
            .where(_expired_or_free())
            .values(reservation=sa.bindparam("owner"), reservation_expires=expiry))


_RELEASE = (
    nodes.update()
    .where(nodes.c.id == sa.bindparam("node_id"))
    .where(nodes.c.reservation == sa.bindparam("owner"))
    .values(reservation=None, reservation_expires=None)
)

_GET_RESERVATION = sa.select(nodes.c.reservation, nodes.c.reservation_expires).where(
    nodes.c.id == sa.bindparam("node_id"))


#: What a lease statement may publish: plain columns a task sets, nothing the
#: statement itself or the database manages.
_PUBLISHABLE = NODE_COLUMNS - set(_JSON_NODE_FIELDS)
_NOT_PUBLISHABLE = _NODE_IMMUTABLE | {"name", "updated_at", "reservation",
                                      "reservation_expires"}


@functools.lru_cache(maxsize=64)  # bounded: shapes come from callers
def _reserve_returning(query, publish=(), relative=True):
    """The lease UPDATE ... RETURNING by id, UUID or name, setting ``publish`` too."""
    values = {"reservation": sa.bindparam("owner"),
              "reservation_expires": _LeaseExpiry() if relative else _given_expiry()}
    if publish:
        values.update({name: sa.bindparam("p_" + name, type_=nodes.c[name].type)
                       for name in publish + ("updated_at",)})
        _provision_stamp(values, values.get("provision_state"), values["updated_at"])
    return prepared.Prepared(
        nodes.update()
        .where(_IDENT_COLUMNS[query] == sa.bindparam("ident"))
        .where(_expired_or_free())
        .values(values)
        .returning(*nodes.c))


def write_transaction():
    """One write transaction for several hot-path calls (their ``txn=``).

    A task takes its lease and publishes what it is about to do in one
    transaction, so a request it refuses leaves no trace, not even a lease.
    """
    return db_engine.raw_transaction(write=True)


def _open_driver_info(label, raw):
    info = raw.resolve() if type(raw) is prepared.Deferred else raw
    return secrets.open_fields(info, _keyring, label) if info else info


def reserve_and_get_node(ident, owner, expires, now=None, txn=None, publish=None):
    """Take the lease on ``ident`` (id, UUID or name) and return the node's row.

    ``expires``: the lease's duration (a timedelta, from the lease clock's
    now) or its expiry (a datetime). A lease expired by the lease clock may
    be taken over; ``now`` is not used (the statement reads that clock).

    One statement (``UPDATE ... RETURNING``) instead of read, reserve, read
    again: the hot path of every exclusive task. Returns None when the lease
    was not taken -- the node is locked, or does not exist (the caller asks
    :func:`get_node` which, on that slow path only).

    ``publish`` (column -> value, plain columns only) is set by the same
    statement, with ``updated_at``: what a task is about to do, visible as
    soon as it holds the lease. Inside ``txn`` a caller that then refuses
    the request rolls it all back.

    The row's converted columns are :class:`prepared.Deferred` (decoded,
    and driver_info's secrets opened, when first read): give it to
    :class:`hwdrivers.objects.node.Node`, or :func:`prepared.resolve_all`.
    """
    query, value = _node_lookup(ident)
    expiry, params = _lease_terms(expires)
    params.update(ident=value, owner=owner)
    names = ()
    if publish:
        names = tuple(sorted(publish))
        _check_columns(publish, _PUBLISHABLE, _NOT_PUBLISHABLE, "node")
        params.update(("p_" + name, value) for name, value in publish.items())
        params["p_updated_at"] = params["lease_now"]
    stmt = _reserve_returning(query, names, type(expiry) is _LeaseExpiry)
    if txn is not None:
        row = stmt.first(txn, params)
    else:
        with db_engine.raw_transaction(single=True) as own:
            row = stmt.first(own, params)
    if row is not None and row.get("driver_info") is not None:
        row["driver_info"] = prepared.Deferred(
            functools.partial(_open_driver_info, row.get("name") or row.get("uuid")),
            row["driver_info"])
    return row


def reserve_node(node_id, owner, expires, now=None):
    """Take the lease on ``node_id`` for ``owner`` for (timedelta) or until (datetime) ``expires``.

    Succeeds iff the node is unreserved or its lease expired by the lease
    clock (a reservation without an expiry counts as expired: nothing may
    stay locked forever). Returns True iff this call took it. ``now`` is
    not used: the statement reads the lease clock itself.
    """
    expiry, params = _lease_terms(expires)
    params.update(node_id=node_id, owner=owner)
    with db_engine.writer() as conn:
        result = conn.execute(_reserve(type(expiry) is _LeaseExpiry), params)
    return result.rowcount == 1


def renew_reservation(node_id, owner, expires):
    """Push the lease's expiry (``expires`` as in :func:`reserve_node`); False if lost."""
    return renew_reservations([(node_id, owner)], expires) == {node_id}


def renew_reservations(leases, expires):
    """Push every ``(node_id, owner)`` lease's expiry in one transaction.

    ``expires`` as in :func:`reserve_node`: a conductor passes its
    lease_duration, counted from the lease clock's now in the statement.
    Returns the node ids whose lease ``owner`` still held (renewed). One
    transaction however many leases a conductor holds, so renewing never
    queues behind hundreds of workers for database connections.
    """
    renewed = set()
    leases = list(leases)
    if not leases:
        return renewed
    expiry, params = _lease_terms(expires)
    with db_engine.writer() as conn:
        for start in range(0, len(leases), 500):
            chunk = leases[start:start + 500]
            condition = sa.or_(*[sa.and_(nodes.c.id == node_id,
                                         nodes.c.reservation == owner)
                                 for node_id, owner in chunk])
            rows = conn.execute(nodes.update().where(condition)
                                .values(reservation_expires=expiry)
                                .returning(nodes.c.id), params)
            renewed.update(row[0] for row in rows)
    return renewed


def release_node(node_id, owner):
    """Drop the lease if ``owner`` still holds it; False otherwise."""
    with db_engine.writer() as conn:
        result = conn.execute(_RELEASE, {"node_id": node_id, "owner": owner})
    return result.rowcount == 1


def record_lost_lease(node_id, seen_updated_at, last_error):
    """Set ``last_error`` (and clear the target) of a task stopped on a lost lease.

    Only on a node nobody holds a live lease on and nobody wrote since the
    task last did (``updated_at`` still ``seen_updated_at``): a conductor
    that reaped the task's conductor, or a task that acted since, said what
    happened in its own words, which this must not overwrite. True if written.
    """
    now = utcnow()
    with db_engine.writer() as conn:
        result = conn.execute(
            nodes.update()
            .where(nodes.c.id == node_id)
            .where(nodes.c.updated_at.is_not_distinct_from(seen_updated_at))
            .where(_unlocked())
            .values(last_error=last_error, target_power_state=None, updated_at=now))
    return result.rowcount == 1


def get_reservation(node_id):
    """``(owner, expires)`` of the node's lease, ``(None, None)`` when free.

    NodeNotFound if the node is gone, so a caller that failed to reserve a
    deleted node reports that, not a phantom lock.
    """
    with db_engine.reader() as conn:
        row = conn.execute(_GET_RESERVATION, {"node_id": node_id}).first()
    if row is None:
        raise exception.NodeNotFound(node=node_id)
    return row[0], row[1]


def release_reservations_with_prefix(prefix):
    """Drop every lease whose owner starts with ``prefix``; returns node ids.

    A restarting conductor calls it with its own ``"<host>:"`` so the leases
    its previous life held do not wait out their expiry.
    """
    with db_engine.writer() as conn:
        return sorted(conn.execute(_release_leased_by(prefix)).scalars())


def _release_leased_by(prefix):
    """The UPDATE dropping every lease whose owner starts with ``prefix`` (RETURNING ids)."""
    if not prefix:
        raise exception.Invalid(reason="a reservation prefix must not be empty")
    return (nodes.update()
            .where(nodes.c.reservation.startswith(prefix, autoescape=True))
            .values(reservation=None, reservation_expires=None)
            .returning(nodes.c.id))


def abandon_leases(prefix, last_error):
    """Let go of every node leased by ``prefix``: ``(ids whose target was cleared, ids released)``.

    For a process leaving while actions still run in it (the local CLI's
    second Ctrl-C): no conductor will ever recover its leases, so without
    this the nodes stay locked, their targets shown, until the leases
    expire. Targets are cleared (with ``last_error`` saying why) before the
    leases go, in one transaction, so no node is free while it still shows
    this process's target.
    """
    release = _release_leased_by(prefix)
    with db_engine.writer() as conn:
        cleared = conn.execute(
            nodes.update()
            .where(nodes.c.reservation.startswith(prefix, autoescape=True))
            .where(nodes.c.target_power_state.is_not(None))
            .values(target_power_state=None, last_error=last_error, updated_at=utcnow())
            .returning(nodes.c.id)).scalars().all()
        released = conn.execute(release).scalars().all()
    return sorted(cleared), sorted(released)


LOST_LEASE_TARGET_ERROR = (
    "The task running this power action stopped holding the node's lease (it "
    "expired unrenewed: its conductor was paused, lost the database or died) before "
    "recording the result; the target power state was cleared. Check the power "
    "state and retry.")


def clear_unleased_target_power_states(accept=None, last_error=LOST_LEASE_TARGET_ERROR):
    """Clear ``target_power_state`` where no live lease covers it; returns the ids cleared.

    A target is published and cleared by the task holding the node's lease,
    so one left with no live lease (reservation NULL, or expired: anyone may
    take it) waits for an action nothing is doing, and clients polling the
    node would wait forever. The candidates are read first and each offered
    to ``accept(row)`` (the power sync keeps the nodes it owns and leaves
    leases its own process still renews); the chosen ones are then cleared
    by a compare-and-set UPDATE repeating the condition with a fresh ``now``,
    so a task that took the lease and published a new target after the read
    is never touched. ``last_error`` says why on every node cleared.
    """
    query = (sa.select(nodes).where(nodes.c.target_power_state.is_not(None))
             .where(_unlocked()).order_by(nodes.c.id))
    with db_engine.reader() as conn:
        candidates = _readable_node_dicts(conn.execute(query))
    chosen = [row["id"] for row in candidates if accept is None or accept(row)]
    cleared = []
    for start in range(0, len(chosen), 500):
        now = utcnow()
        stmt = (nodes.update()
                .where(nodes.c.id.in_(chosen[start:start + 500]))
                .where(nodes.c.target_power_state.is_not(None))
                .where(_unlocked())
                .values(target_power_state=None, last_error=last_error, updated_at=now)
                .returning(nodes.c.id))
        with db_engine.writer() as conn:
            cleared.extend(conn.execute(stmt).scalars())
    return sorted(cleared)


def clear_target_power_states(node_ids=None, last_error=DEFAULT_CLEARED_TARGET_ERROR):
    """Clear a stale ``target_power_state`` (optionally only on ``node_ids``).

    Sets ``last_error`` on the same nodes so the operator sees why the
    action never finished; returns the ids of the nodes changed.
    """
    stmt = nodes.update().where(nodes.c.target_power_state.is_not(None))
    if node_ids is not None:
        node_ids = list(node_ids)
        if not node_ids:
            return []
        stmt = stmt.where(nodes.c.id.in_(node_ids))
    stmt = stmt.values(target_power_state=None, last_error=last_error,
                       updated_at=utcnow()).returning(nodes.c.id)
    with db_engine.writer() as conn:
        return sorted(conn.execute(stmt).scalars())


# -- ports ----------------------------------------------------------------------

def normalize_mac(address):
    """``address`` lowercased; InvalidParameterValue unless it is aa:bb:cc:dd:ee:ff."""
    normalized = address.strip().lower() if isinstance(address, str) else None
    if normalized is None or not _MAC_RE.match(normalized):
        raise exception.InvalidParameterValue(
            errors=["port address %r is not a MAC address of the form "
                    "aa:bb:cc:dd:ee:ff" % (address,)])
    return normalized


def _port_integrity_error(error, values):
    field = _conflicting_field(error, ("address", "uuid"), "ports")
    if field == "address":
        return exception.PortAlreadyExists(address=values["address"])
    if field == "uuid":
        return exception.PortAlreadyExists(
            "A port with UUID %s already exists." % values["uuid"],
            address=values.get("address"))
    if not _is_unique_violation(error) and "node_id" in values:
        return exception.NodeNotFound(node=values["node_id"])  # foreign key
    return None


def create_port(values):
    """Insert a port; ``address`` is normalised to a lowercase MAC."""
    values = dict(values)
    _check_columns(values, PORT_COLUMNS, _PORT_READ_ONLY, "port")
    missing = [f for f in ("address", "node_id") if values.get(f) is None]
    if missing:
        raise exception.MissingParameterValue(
            errors=["port field %s is required" % f for f in missing])
    values["address"] = normalize_mac(values["address"])
    if values.get("uuid") is None:
        values["uuid"] = str(uuid_lib.uuid4())
    elif not _is_uuid(values["uuid"]):
        raise exception.InvalidParameterValue(
            errors=["port uuid %r is not a UUID" % values["uuid"]])
    if values.get("extra", _UNSET) is None:
        values["extra"] = {}
    values.setdefault("created_at", utcnow())
    try:
        with db_engine.writer() as conn:
            row = conn.execute(ports.insert().values(**values).returning(*ports.c)).one()
    except sa.exc.IntegrityError as error:
        translated = _port_integrity_error(error, values)
        if translated is None:
            raise
        raise translated from None
    return _as_dict(row)


def get_port(ident):
    """A port by int id, UUID or MAC address; PortNotFound if none."""
    if isinstance(ident, int) and not isinstance(ident, bool):
        clause = ports.c.id == ident
    elif isinstance(ident, str) and _is_uuid(ident):
        clause = ports.c.uuid == ident.lower()
    elif isinstance(ident, str) and _MAC_RE.match(ident.strip().lower()):
        clause = ports.c.address == ident.strip().lower()
    else:
        raise exception.PortNotFound(port=ident)
    with db_engine.reader() as conn:
        row = conn.execute(sa.select(ports).where(clause)).first()
    if row is None:
        raise exception.PortNotFound(port=ident)
    return _as_dict(row)


#: Columns list_ports() sorts by (Ironic's sort_key for ports).
PORT_SORT_KEYS = ("id", "uuid", "address", "pxe_enabled", "created_at", "updated_at")


def list_ports(node_id=None, limit=None, marker=None, sort_key="id", sort_dir="asc",
               conductor_groups=None):
    """Ports, optionally of one node, or of the nodes in ``conductor_groups``
    (names as stored, in lower case); ``marker`` = UUID of the last port seen.

    Keyset pagination as :func:`list_nodes`, by ``sort_key`` then id.
    """
    if sort_key not in PORT_SORT_KEYS:
        raise exception.Invalid(
            reason="cannot sort ports by %r; allowed sort keys: %s"
            % (sort_key, ", ".join(PORT_SORT_KEYS)))
    if sort_dir not in ("asc", "desc"):
        raise exception.Invalid(
            reason="sort direction %r is not one of asc, desc" % (sort_dir,))
    ascending = sort_dir == "asc"
    column, id_col = ports.c[sort_key], ports.c.id
    if sort_key == "id":
        order = [id_col.asc() if ascending else id_col.desc()]
    elif ascending:
        order = [column.asc().nulls_first(), id_col.asc()]
    else:
        order = [column.desc().nulls_last(), id_col.desc()]
    query = sa.select(ports).order_by(*order)
    if node_id is not None:
        query = query.where(ports.c.node_id == node_id)
    if conductor_groups is not None:
        query = query.where(ports.c.node_id.in_(sa.select(nodes.c.id).where(
            nodes.c.conductor_group.in_(list(conductor_groups)))))
    if limit is not None:
        query = query.limit(limit)
    with db_engine.reader() as conn:
        if marker is not None:
            marker_row = conn.execute(sa.select(column, id_col).where(
                ports.c.uuid == str(marker).lower())).first()
            if marker_row is None:
                raise exception.InvalidParameterValue(
                    errors=["marker %s is not the UUID of an existing port" % marker])
            if sort_key == "id":
                query = query.where(id_col > marker_row[1] if ascending
                                    else id_col < marker_row[1])
            else:
                query = query.where(_keyset_after(column, marker_row[0], marker_row[1],
                                                  ascending, id_col=id_col))
        return [_as_dict(row) for row in conn.execute(query)]


def _port_clause(port_id, node_id):
    clause = ports.c.id == port_id
    return clause if node_id is None else sa.and_(clause, ports.c.node_id == node_id)


def update_port(port_id, values, node_id=None):
    """Set ``values`` on port ``port_id`` (int id); returns the updated row.

    ``node_id``: only while the port is that node's (PortNotFound if not),
    for a caller holding that node's lock.
    """
    values = dict(values)
    _check_columns(values, PORT_COLUMNS, _PORT_IMMUTABLE, "port")
    if "address" in values:
        values["address"] = normalize_mac(values["address"])
    values.setdefault("updated_at", utcnow())
    stmt = (ports.update().where(_port_clause(port_id, node_id)).values(**values)
            .returning(*ports.c))
    try:
        with db_engine.writer() as conn:
            row = conn.execute(stmt).first()
    except sa.exc.IntegrityError as error:
        translated = _port_integrity_error(error, values)
        if translated is None:
            raise
        raise translated from None
    if row is None:
        raise exception.PortNotFound(port=port_id)
    return _as_dict(row)


def destroy_port(port_id, node_id=None):
    """Delete port ``port_id`` (int id); ``node_id`` as in :func:`update_port`."""
    with db_engine.writer() as conn:
        deleted = conn.execute(ports.delete().where(_port_clause(port_id, node_id))).rowcount
    if deleted != 1:
        raise exception.PortNotFound(port=port_id)


# -- conductors -----------------------------------------------------------------

def _conductor_clock():
    """What conductor heartbeats are stamped with: the database's clock (naive UTC).

    Processes on several machines judge each other's heartbeats; stamped
    and judged by each one's own clock, a conductor whose clock ran a
    minute behind looked silent to the others, which reaped it every
    heartbeat (released its locks, aborted its operations), and an API
    process whose clock ran ahead saw no conductor alive at all. One clock,
    the database's, makes a heartbeat's age the same for every reader.
    SQLite has one process: its own clock is that one.
    """
    if db_engine.is_sqlite():
        return sa.literal(utcnow(), sa.DateTime())
    return sa.func.timezone("UTC", sa.func.now(), type_=sa.DateTime())


def conductor_clock_now():
    """The database's clock now (naive UTC): the ``now`` heartbeats are judged by."""
    if db_engine.is_sqlite():
        return utcnow()
    with db_engine.reader() as conn:
        return conn.execute(sa.select(_conductor_clock())).scalar_one()


def register_conductor(hostname, hardware_types, conductor_group="", rpc_url=None):
    """Create or revive the conductor row for ``hostname``; online, heartbeat now.

    One upsert statement, so two processes starting with the same hostname
    cannot both insert. ``conductor_group`` is the group whose hash ring it
    joins; ``rpc_url`` where hwdrivers-api reaches it (None: no RPC).
    """
    now = _conductor_clock()
    hardware_types = list(hardware_types)
    if db_engine.is_sqlite():  # imported here: a command-line start-up needs neither
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    stmt = insert(conductors).values(hostname=hostname, hardware_types=hardware_types,
                                     online=True, created_at=now, updated_at=now,
                                     conductor_group=conductor_group or "",
                                     rpc_url=rpc_url)
    stmt = stmt.on_conflict_do_update(
        index_elements=[conductors.c.hostname],
        set_={"hardware_types": stmt.excluded.hardware_types, "online": True,
              "updated_at": now, "conductor_group": stmt.excluded.conductor_group,
              "rpc_url": stmt.excluded.rpc_url},
    ).returning(*conductors.c)
    with db_engine.writer() as conn:
        return _as_dict(conn.execute(stmt).one())


def _update_conductor(hostname, values):
    with db_engine.writer() as conn:
        updated = conn.execute(conductors.update()
                               .where(conductors.c.hostname == hostname)
                               .values(**values)).rowcount
    if updated != 1:
        raise exception.ConductorNotFound(conductor=hostname)


def touch_conductor(hostname):
    """Heartbeat: set ``updated_at`` to now; returns whether the row is online.

    An offline row (another conductor presumed this one dead, or it stopped)
    is touched too, and False tells the caller to register again.
    """
    with db_engine.writer() as conn:
        row = conn.execute(conductors.update()
                           .where(conductors.c.hostname == hostname)
                           .values(updated_at=_conductor_clock())
                           .returning(conductors.c.online)).first()
    if row is None:
        raise exception.ConductorNotFound(conductor=hostname)
    return bool(row.online)


def unregister_conductor(hostname):
    """Mark the conductor offline (kept for its history, and for restarts)."""
    _update_conductor(hostname, {"online": False, "updated_at": _conductor_clock()})


def reap_conductor(hostname, silent_since, last_error, provision_failures):
    """Mark ``hostname`` offline if it has not heartbeated since ``silent_since``.

    ``silent_since`` is on :func:`conductor_clock_now`'s clock. One
    transaction, a compare-and-set on the heartbeat: a conductor that
    heartbeated after the caller read its row, or that another conductor
    reaped first, is left alone (None). Otherwise its leases are released
    and its operations marked aborted as :func:`abort_orphaned_operations`
    does; returns the ids of the nodes whose leases it held.
    """
    with db_engine.writer() as conn:
        reaped = conn.execute(
            conductors.update().where(conductors.c.hostname == hostname)
            .where(conductors.c.online.is_(True))
            .where(conductors.c.updated_at < silent_since)
            .values(online=False, updated_at=_conductor_clock())
            .returning(conductors.c.hostname)).first()
        if reaped is None:
            return None
        released = sorted(conn.execute(_release_leased_by("%s:" % hostname)).scalars())
        _abort_orphaned(conn, released, last_error, provision_failures)
    return released


def get_conductor(hostname):
    with db_engine.reader() as conn:
        row = conn.execute(sa.select(conductors).where(
            conductors.c.hostname == hostname)).first()
    if row is None:
        raise exception.ConductorNotFound(conductor=hostname)
    return _as_dict(row)


def list_conductors():
    """Every conductor, by hostname."""
    with db_engine.reader() as conn:
        return [_as_dict(row) for row in conn.execute(
            sa.select(conductors).order_by(conductors.c.hostname))]


# -- power-state sync and recovery ------------------------------------------------
# The sync reads nodes page by page with short read transactions and writes
# only what changed, each write one conditional UPDATE (no live lease, by the
# lease clock: the condition the pages are read with, so a node behind the
# expired lease of a dead task is counted and recovered like the others), so
# it never holds a connection while a BMC answers and never overwrites a node
# some task locked in the meantime.

POWER_FAILURE_FAULT = "power failure"


def _unlocked():
    """No live lease on the node, by the lease clock (the one leases are taken by)."""
    return _expired_or_free()


def list_nodes_to_sync(failed, after_id=0, limit=500):
    """One page of nodes the power sync should read, by id after ``after_id``.

    Skips nodes that are locked (an unexpired lease), in maintenance, or
    with a pending power or provision target: someone is acting on them,
    and their recorded state is about to change anyway. ``failed`` selects
    the nodes whose last sync failed (``power_sync_failures > 0``), which
    the sync reads first, or the others.
    """
    failures = nodes.c.power_sync_failures
    query = (sa.select(nodes)
             .where(nodes.c.id > after_id)
             .where(nodes.c.maintenance == sa.false())
             .where(nodes.c.target_power_state.is_(None))
             .where(nodes.c.target_provision_state.is_(None))
             .where(_unlocked())
             .where(failures > 0 if failed else failures == 0)
             .order_by(nodes.c.id).limit(limit))
    with db_engine.reader() as conn:
        return _readable_node_dicts(conn.execute(query))


def list_power_failed_nodes(after_id=0, limit=500):
    """One page of nodes put in maintenance by the sync (fault ``power failure``)."""
    query = (sa.select(nodes)
             .where(nodes.c.id > after_id)
             .where(nodes.c.maintenance == sa.true())
             .where(nodes.c.fault == POWER_FAILURE_FAULT)
             .where(_unlocked())
             .order_by(nodes.c.id).limit(limit))
    with db_engine.reader() as conn:
        return _readable_node_dicts(conn.execute(query))


def reset_power_sync_failures(node_id):
    """Forget earlier sync failures of an unlocked node; True if it changed."""
    stmt = (nodes.update()
            .where(nodes.c.id == node_id)
            .where(_unlocked())
            .where(nodes.c.power_sync_failures > 0)
            .values(power_sync_failures=0, updated_at=utcnow()))
    with db_engine.writer() as conn:
        return conn.execute(stmt).rowcount == 1


def record_power_sync_failure(node_id, max_retries, reason):
    """Count a failed sync of an unlocked node; maintenance once it reaches ``max_retries``.

    Returns ``(failures, to_maintenance)``, or None when the node was
    locked or already in maintenance (someone else owns its state now).
    The count and the maintenance switch happen in one transaction, so a
    concurrent sync or API call never sees half of it.
    """
    now = utcnow()
    bump = (nodes.update()
            .where(nodes.c.id == node_id)
            .where(_unlocked())
            .where(nodes.c.maintenance == sa.false())
            .values(power_sync_failures=nodes.c.power_sync_failures + 1, updated_at=now)
            .returning(nodes.c.power_sync_failures))
    with db_engine.writer() as conn:
        failures = conn.execute(bump).scalar()
        if failures is None:
            return None
        if failures < max_retries:
            return failures, False
        conn.execute(nodes.update().where(nodes.c.id == node_id).values(
            maintenance=True, fault=POWER_FAILURE_FAULT, maintenance_reason=reason,
            last_error=reason, updated_at=now))
    return failures, True


def clear_power_failure(node_id, power_state):
    """Take a node out of sync-imposed maintenance: its BMC answers again.

    Only a node still in maintenance with fault ``power failure`` and not
    locked is changed, so maintenance an operator set by hand stays.
    Returns True if the node was recovered.
    """
    stmt = (nodes.update()
            .where(nodes.c.id == node_id)
            .where(_unlocked())
            .where(nodes.c.maintenance == sa.true())
            .where(nodes.c.fault == POWER_FAILURE_FAULT)
            .values(maintenance=False, fault=None, maintenance_reason=None,
                    power_sync_failures=0, last_error=None, power_state=power_state,
                    updated_at=utcnow()))
    with db_engine.writer() as conn:
        return conn.execute(stmt).rowcount == 1


def abort_orphaned_operations(node_ids, last_error, provision_failures):
    """Clean up after operations that died with their conductor.

    On the nodes ``node_ids`` (whose leases the dead conductor held) and on
    every unlocked node: clear a pending ``target_power_state``; move a node
    caught in a transient provision state to its failure state
    (``provision_failures``: transient -> failed state) with its target
    cleared. Each touched node gets ``last_error``. Returns the ids changed.
    """
    with db_engine.writer() as conn:
        return _abort_orphaned(conn, node_ids, last_error, provision_failures)


def _abort_orphaned(conn, node_ids, last_error, provision_failures):
    """:func:`abort_orphaned_operations` inside the caller's transaction ``conn``."""
    now = utcnow()
    scope = nodes.c.reservation.is_(None)
    node_ids = list(node_ids or ())
    if node_ids:
        scope = sa.or_(scope, nodes.c.id.in_(node_ids))
    changed = set()
    changed.update(conn.execute(
        nodes.update().where(scope).where(nodes.c.target_power_state.is_not(None))
        .values(target_power_state=None, last_error=last_error, updated_at=now)
        .returning(nodes.c.id)).scalars())
    for transient, failed in provision_failures.items():
        changed.update(conn.execute(
            nodes.update().where(scope).where(nodes.c.provision_state == transient)
            .values(provision_state=failed, target_provision_state=None,
                    last_error=last_error, updated_at=now, provision_updated_at=now)
            .returning(nodes.c.id)).scalars())
    return sorted(changed)


# -- secrets at rest ---------------------------------------------------------------
# Sealing happens on every write and opening on every read (above); these are
# for the service's start-up and for hwdrivers-dbsync: rows written before
# encryption existed, and rows sealed with a key that is no longer the newest.

_SEALED_TEXT = '%"' + secrets.ENVELOPE + '"%'


def find_sealed_node():
    """``(label, driver_info)`` of one node holding an encrypted value, or None."""
    query = (sa.select(nodes.c.name, nodes.c.uuid, nodes.c.driver_info)
             .where(sa.cast(nodes.c.driver_info, sa.Text).like(_SEALED_TEXT))
             .limit(1))
    with db_engine.reader() as conn:
        row = conn.execute(query).first()
    return None if row is None else (row.name or row.uuid, row.driver_info)


def check_secrets_key():
    """Make sure the key file can serve this database; raise a clear error if not.

    With encrypted values stored, the key file must exist, be private and
    decrypt one of them (so a wrong or missing key stops the service at
    start, not a request later). With none, a missing file is created.
    """
    sealed = find_sealed_node()
    if sealed is None:
        return _keyring(create=True)
    label, info = sealed
    ring = _keyring(create=False)
    secrets.open_fields(info, lambda: ring, label)
    return ring


def reencrypt_node_secrets(plaintext_only=False, forget_unreadable=False, page=500):
    """Seal plaintext secrets and re-seal old tokens with the newest key.

    Every node is visited in pages of ``page`` by id; a row is written only
    when something changes, with a compare-and-set on ``updated_at`` so a
    concurrent update is never overwritten (such a row is counted in
    ``busy`` and left for the next run). ``plaintext_only`` skips the
    re-sealing (what the service does at start). Values that cannot be
    decrypted are reported in ``unreadable`` as ``(node, field)``, or removed
    with ``forget_unreadable`` (listed in ``forgotten``), so the field can be
    set again. Returns the counts.
    """
    # Forgetting unreadable values is how an operator who lost the key starts
    # over: a new key file is then made; otherwise a missing one is an error.
    ring = _keyring(create=True) if forget_unreadable else _key_file_ring()
    report = {"nodes": 0, "changed": 0, "sealed": 0, "resealed": 0, "busy": 0,
              "unreadable": [], "forgotten": []}
    after = 0
    while True:
        query = (sa.select(nodes.c.id, nodes.c.name, nodes.c.uuid, nodes.c.driver_info,
                           nodes.c.updated_at)
                 .where(nodes.c.id > after).order_by(nodes.c.id).limit(page))
        with db_engine.reader() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return report
        after = rows[-1].id
        for row in rows:
            report["nodes"] += 1
            new = _reseal(row, ring, plaintext_only, forget_unreadable, report)
            if new is None:
                continue
            stmt = (nodes.update().where(nodes.c.id == row.id)
                    .where(nodes.c.updated_at.is_not_distinct_from(row.updated_at))
                    .values(driver_info=new))
            with db_engine.writer() as conn:
                done = conn.execute(stmt).rowcount == 1
            report["changed" if done else "busy"] += 1


def purge_old_row_versions():
    """Rewrite the nodes table so values replaced by encryption leave no copy.

    An UPDATE leaves the old row in the file (SQLite's free pages and WAL,
    PostgreSQL's dead tuples) until the space is reused. SQLite: ``VACUUM``
    rebuilds the file and the WAL is truncated. PostgreSQL: ``VACUUM FULL
    nodes`` rewrites the table (it locks it for the time of the rewrite,
    well under a second for ten thousand nodes). Backups taken before keep
    what they hold; only a new backup is clean. A database lost meanwhile is
    DatabaseUnavailable, as everywhere else.
    """
    with db_engine.driver_errors_as_unavailable():
        raw = db_engine.get_engine().raw_connection()
        try:
            if db_engine.is_sqlite():
                raw.driver_connection.isolation_level = None
                cursor = raw.cursor()
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            else:
                raw.driver_connection.autocommit = True
                cursor = raw.cursor()
                cursor.execute("VACUUM FULL nodes")
            cursor.close()
        finally:
            raw.close()


def _reseal(row, ring, plaintext_only, forget_unreadable, report):
    """The new driver_info of ``row``, or None when it needs no change."""
    info = dict(row.driver_info or {})
    label = row.name or row.uuid
    changed = False
    for key, value in list(info.items()):
        if not secrets.is_sealed(value) or plaintext_only:
            continue
        try:
            plain = ring.open(value, key, label)
        except secrets.SecretUnreadable:
            if forget_unreadable:
                del info[key]
                report["forgotten"].append((label, key))
                changed = True
            else:
                report["unreadable"].append((label, key))
            continue
        if not ring.is_current(value):
            info[key] = ring.seal(plain)
            report["resealed"] += 1
            changed = True
    plain_view = {k: (None if secrets.is_sealed(v) else v) for k, v in info.items()}
    for key in secrets.secret_fields(plain_view):
        value = info[key]
        if value is None or value == "" or secrets.is_sealed(value):
            continue
        info[key] = ring.seal(value)
        report["sealed"] += 1
        changed = True
    return info if changed else None


def prepare_secrets():
    """At service start: a usable key file, and no secret left in plain text.

    The caller loads the driver registry first (it declares which fields
    are secret). Raises KeyFileError / SecretUnreadable with the fix when
    the key file is missing, too open, malformed or the wrong one, so the
    service refuses to start instead of failing on every node later.
    Rows stored before encryption existed are sealed here, once: this needs
    the enabled drivers' declarations and the key, which a schema migration
    has neither of (see doc/service.md).
    """
    check_secrets_key()
    report = reencrypt_node_secrets(plaintext_only=True)
    if report["sealed"]:
        purge_old_row_versions()
        LOG.warning("Encrypted %d driver_info secret(s) that were stored in plain "
                    "text, on %d node(s), and rewrote the nodes table so no copy "
                    "is left in the database; backups taken before still hold them",
                    report["sealed"], report["changed"])
    return report
