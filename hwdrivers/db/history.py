"""Node history: the events the conductor recorded for a node, bounded per node.

Ironic's node history (API 1.78) in one table: each row an event with a
severity (ERROR, WARNING, INFO), a type (power, provisioning, maintenance...),
its text, and the conductor and user behind it. Kept apart from
:mod:`hwdrivers.db.api` because it is written off the hot path -- when a task
records an error, a provision state or a maintenance change, never on a
successful power change -- and read only by ``node history``. Each node
keeps its newest ``max_entries`` events: recording one prunes the oldest in
the same short transaction, so the table never grows without bound. Rows go
with their node (``ON DELETE CASCADE``).
"""

import datetime
import uuid as uuid_mod

import sqlalchemy as sa

from hwdrivers.db import engine as db_engine
from hwdrivers.db import models

node_history = models.node_history

SEVERITIES = ("ERROR", "WARNING", "INFO")

#: Fields of an event in ``GET /v1/nodes/<node>/history`` without ``detail``.
SUMMARY_FIELDS = ("uuid", "created_at", "severity", "event")
#: Every field of an event.
DETAIL_FIELDS = SUMMARY_FIELDS + ("event_type", "conductor", "user")


def _now():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def record(node_id: int, event: str, severity: str = "ERROR", event_type: str = "conductor",
           conductor: str | None = None, user: str | None = None,
           max_entries: int = 300) -> str:
    """Add an event to the node's history, keeping its newest ``max_entries``; its UUID."""
    if severity not in SEVERITIES:
        raise ValueError("severity must be one of %s, got %r" % (", ".join(SEVERITIES),
                                                                  severity))
    event_uuid = str(uuid_mod.uuid4())
    with db_engine.writer() as conn:
        conn.execute(node_history.insert().values(
            uuid=event_uuid, node_id=node_id, severity=severity,
            event_type=event_type[:32], event=event, conductor=conductor, user=user,
            created_at=_now()))
        keep = (sa.select(node_history.c.id).where(node_history.c.node_id == node_id)
                .order_by(node_history.c.id.desc()).limit(max(1, max_entries)))
        conn.execute(node_history.delete().where(
            node_history.c.node_id == node_id,
            node_history.c.id.not_in(keep.scalar_subquery())))
    return event_uuid


def list_events(node_id: int, limit: int | None = None, marker: str | None = None) -> list:
    """The node's events, oldest first; after the event ``marker`` (a UUID) if given."""
    query = sa.select(node_history).where(node_history.c.node_id == node_id)
    with db_engine.reader() as conn:
        if marker:
            after = conn.execute(sa.select(node_history.c.id).where(
                node_history.c.node_id == node_id,
                node_history.c.uuid == marker)).scalar()
            if after is None:
                raise LookupError(marker)
            query = query.where(node_history.c.id > after)
        query = query.order_by(node_history.c.id)
        if limit:
            query = query.limit(limit)
        return [_event(row) for row in conn.execute(query)]


def get_event(node_id: int, event_uuid: str) -> dict | None:
    with db_engine.reader() as conn:
        row = conn.execute(sa.select(node_history).where(
            node_history.c.node_id == node_id,
            node_history.c.uuid == event_uuid)).first()
    return _event(row) if row is not None else None


def _event(row) -> dict:
    values = dict(row._mapping)
    return {field: values[field] for field in DETAIL_FIELDS}
