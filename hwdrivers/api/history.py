"""/v1/nodes/<node>/history: the events the conductor recorded (Ironic 1.78).

``GET /v1/nodes/<node>/history`` lists them oldest first as ``{"history":
[{uuid, created_at, severity, event, links}], "next": ...}`` (``detail=true``
adds event_type, conductor and user; ``limit``/``marker`` page; ``sort_key``
(any event field, ``created_at`` by default) and ``sort_dir`` order them);
``GET /v1/nodes/<node>/history/<event>`` shows one in full.

As Ironic, the list without ``detail`` cuts each event's text to
:data:`SUMMARY_EVENT_CHARS` characters (ending in ``...``): an event may
hold a megabyte of a tool's output, and a node keeps hundreds of them, so a
summary listing in full could weigh hundreds of megabytes. ``detail=true``
and the single event show the whole text.
"""

import flask

from hwdrivers.api import microversions
from hwdrivers.api import utils
from hwdrivers.conductor import node_history
from hwdrivers.db import history as db_history

blueprint = flask.Blueprint("history", __name__)
microversions.gate(blueprint)

#: Longest event text in a summary listing (Ironic's 255: 251 characters and "...").
SUMMARY_EVENT_CHARS = 255


def _doc(node_uuid, event, detail):
    fields = db_history.DETAIL_FIELDS if detail else db_history.SUMMARY_FIELDS
    doc = {field: event[field] for field in fields}
    doc["created_at"] = utils.isotime(doc["created_at"])
    if not detail:
        doc["event"] = _summary_text(doc["event"])
    doc["links"] = utils.links("nodes", node_uuid, "/history/%s" % event["uuid"])
    return doc


def _summary_text(text):
    """``text`` cut to :data:`SUMMARY_EVENT_CHARS`, as Ironic's summary shows it."""
    if text is None or len(text) <= SUMMARY_EVENT_CHARS:
        return text
    return text[:SUMMARY_EVENT_CHARS - 4] + "..."


@blueprint.get("/v1/nodes/<ident>/history")
def list_history(ident):
    utils.check_query(("detail", "limit", "marker", "sort_key", "sort_dir"))
    detail = bool(utils.query_bool("detail", False))
    limit = utils.query_limit()
    args = flask.request.args
    node, events = node_history.list_events(
        utils.context(), ident, limit=limit, marker=args.get("marker"),
        sort_key=args.get("sort_key", "created_at"), sort_dir=args.get("sort_dir", "asc"))
    doc = {"history": [_doc(node.uuid, event, detail) for event in events]}
    next_url = utils.next_link("nodes/%s/history" % node.uuid, events, limit)
    if next_url:
        doc["next"] = next_url
    return utils.json_response(doc)


@blueprint.get("/v1/nodes/<ident>/history/<event_uuid>")
def show_event(ident, event_uuid):
    utils.check_query(())
    node = utils.manager().get_node(utils.context(), ident)
    event = node_history.get_event(utils.context(), node.uuid, event_uuid)
    return utils.json_response(_doc(node.uuid, event, detail=True))
