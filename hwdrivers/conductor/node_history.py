"""What a task's save records in the node's history (Ironic's node history).

:meth:`TaskManager.save` hands over the fields it just wrote; an error put in
``last_error``, a provision state reached and a maintenance change each
become one event (:mod:`hwdrivers.db.history`), with the conductor and the
user behind the request. A successful power change writes none of those
fields, so the hot path gains no write. Recording never fails the operation
it describes: a history write that fails is logged and dropped.
"""

import logging

from oslo_config import cfg

from hwdrivers.db import history

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

#: A task's purpose (its first words) -> the event type Ironic's clients show.
_EVENT_TYPES = (("power state sync", "monitoring"), ("power", "power"),
                ("provision", "provisioning"), ("set maintenance", "maintenance"),
                ("deploy", "deploy"), ("agent", "deploy"), ("inspection", "inspection"),
                ("console", "console"), ("vendor", "vendor"), ("node update", "update"))


def event_type(purpose: str) -> str:
    for prefix, kind in _EVENT_TYPES:
        if (purpose or "").startswith(prefix):
            return kind
    return "conductor"


def events_for(node, changed) -> list:
    """``[(severity, event_type or None, text)]`` the saved ``changed`` fields make."""
    events = []
    if "last_error" in changed and node.last_error:
        events.append(("ERROR", None, node.last_error))  # what failed, then where it left it
    if "provision_state" in changed:
        target = node.target_provision_state
        events.append(("INFO", "provisioning", "provision state %s%s" % (
            node.provision_state, " (target %s)" % target if target else "")))
    if "maintenance" in changed:
        events.append(("WARNING", "maintenance", "maintenance set: %s" % (
            node.maintenance_reason or "no reason given")) if node.maintenance
            else ("INFO", "maintenance", "maintenance cleared"))
    return events


def record_saved(node, changed, context, purpose) -> None:
    """Record the events of one save of ``node`` (no-op when history is off)."""
    if not changed:
        return
    events = events_for(node, changed)  # none for most saves: no option read then
    if not events:
        return
    for severity, kind, text in events:
        record(node.id, severity, kind or event_type(purpose), text, context)


def record(node_id, severity, kind, text, context) -> None:
    """One event, unless history is off; a failed write is logged, never raised."""
    if not CONF.conductor.node_history:
        return
    try:
        history.record(node_id, text, severity=severity, event_type=kind,
                       conductor=CONF.host, user=getattr(context, "user", None),
                       max_entries=CONF.conductor.node_history_max_entries)
    except Exception as exc:  # the operation itself succeeded; say so and go on
        LOG.warning("Node %s: could not record a history event (%s): %s",
                    node_id, text[:80], exc)


#: Ironic's sort keys for node history: any field of an event.
SORT_KEYS = history.DETAIL_FIELDS
SORT_DIRS = ("asc", "desc")


def list_events(context, ident, limit=None, marker=None, sort_key="created_at",
                sort_dir="asc") -> tuple:
    """``(node, events)`` for a node named by id, UUID or name, as Ironic sorts them.

    Oldest first by default, read a page at a time from the database. Any
    other order (``sort_dir=desc``: what happened last) sorts the node's
    events here: they are bounded by ``[conductor] node_history_max_entries``,
    and ties keep the order they were recorded in (reversed for ``desc``),
    so a marker always resumes where the page ended.
    InvalidParameterValue for an unknown sort key or direction, or when
    ``marker`` is not an event of this node.
    """
    from hwdrivers.common import exception
    from hwdrivers.objects import node as node_obj

    if sort_key not in SORT_KEYS:
        raise exception.InvalidParameterValue(
            "cannot sort history by sort_key %r; sort keys: %s" % (sort_key, ", ".join(SORT_KEYS)))
    if sort_dir not in SORT_DIRS:
        raise exception.InvalidParameterValue(
            "sort_dir %r is not one of %s" % (sort_dir, ", ".join(SORT_DIRS)))
    node = node_obj.Node.get(ident)
    # Between two pages the marker's event may have been pruned (a node keeps
    # its newest [conductor] node_history_max_entries): say so, and the way on.
    bad_marker = exception.InvalidParameterValue(
        "marker %s is not an event of node %s (any longer: a node keeps only its "
        "newest [conductor] node_history_max_entries events); list again without "
        "marker, or with the last event's uuid you still hold" % (marker, node.ident))
    if (sort_key, sort_dir) == ("created_at", "asc"):
        try:
            return node, history.list_events(node.id, limit=limit, marker=marker)
        except LookupError:
            raise bad_marker from None
    events = history.list_events(node.id)  # oldest first: the tie order
    if sort_dir == "desc":
        events.reverse()
    events.sort(key=lambda e: (e[sort_key] is None, e[sort_key] or ""),
                reverse=sort_dir == "desc")
    if marker:
        uuids = [e["uuid"] for e in events]
        if marker not in uuids:
            raise bad_marker
        events = events[uuids.index(marker) + 1:]
    return node, events[:limit] if limit else events


def get_event(context, ident, event_uuid) -> dict:
    from hwdrivers.common import exception
    from hwdrivers.objects import node as node_obj

    node = node_obj.Node.get(ident)
    event = history.get_event(node.id, event_uuid)
    if event is None:
        raise exception.NotFound("Node %s has no history event %s" % (node.ident, event_uuid))
    return event
