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


def list_events(context, ident, limit=None, marker=None) -> tuple:
    """``(node, events oldest first)`` for a node named by id, UUID or name.

    InvalidParameterValue when ``marker`` is not an event of this node.
    """
    from hwdrivers.common import exception
    from hwdrivers.objects import node as node_obj

    node = node_obj.Node.get(ident)
    try:
        return node, history.list_events(node.id, limit=limit, marker=marker)
    except LookupError:
        raise exception.InvalidParameterValue(
            "marker %s is not an event of node %s" % (marker, node.ident)) from None


def get_event(context, ident, event_uuid) -> dict:
    from hwdrivers.common import exception
    from hwdrivers.objects import node as node_obj

    node = node_obj.Node.get(ident)
    event = history.get_event(node.id, event_uuid)
    if event is None:
        raise exception.NotFound("Node %s has no history event %s" % (node.ident, event_uuid))
    return event
