"""/v1/conductors: the conductor processes, their group, whether alive, nodes owned.

As Ironic: served from API 1.49 (a 404 below it, microversions.ROUTE_VERSIONS);
a list shows hostname, conductor_group, alive and links, and ``detail=true``
or a show adds drivers, created_at and updated_at; ``detail=true`` with
``fields`` is a 400. ``alive`` means online and heartbeating within
``[conductor] heartbeat_timeout``.

``owned_nodes`` is hwdrivers' own (Ironic counts no nodes here): the nodes
each live conductor owns on its group's hash ring right now
(conductor/hash_ring.py), so an operator sees a dead conductor's nodes move
and a new one's arrive; an hwdrivers-server, which drives every node
whatever its group, owns them all. It costs a pass over the fleet's ring keys (one
aggregate query), so it is counted only when the response shows it or sorts
by it: a ``?fields=`` without it reads no node, and a show counts its
conductor's group only.
"""

import flask

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import utils
from hwdrivers.common import exception
from hwdrivers.conductor import hash_ring

blueprint = flask.Blueprint("conductors", __name__)
microversions.gate(blueprint)

FIELDS = ("hostname", "conductor_group", "alive", "owned_nodes", "links", "drivers",
          "created_at", "updated_at")


def _summaries(fields, sort_key=None, hostname=None):
    """The conductor rows; nodes counted only if ``fields`` or ``sort_key`` need them."""
    manager = utils.manager()
    rings = getattr(manager, "rings", None) or hash_ring.RingManager(utils.conf())
    count = fields is None or "owned_nodes" in fields or sort_key == "owned_nodes"
    # hwdrivers-server (no routing to conductors) drives every node itself.
    server_host = None if hasattr(manager, "owner") else utils.conf().host
    return hash_ring.conductor_summaries(manager.registry, rings, count=count,
                                         hostname=hostname, server_host=server_host)


def conductor_doc(row, detail):
    doc = {
        "hostname": row["hostname"],
        "conductor_group": row.get("conductor_group") or "",
        "alive": row["alive"],
        "owned_nodes": row["owned_nodes"],
        "links": utils.links("conductors", row["hostname"]),
    }
    if detail:
        doc.update({
            "drivers": list(row.get("hardware_types") or []),
            "created_at": utils.isotime(row.get("created_at")),
            "updated_at": utils.isotime(row.get("updated_at")),
        })
    return doc


#: What ``sort_key`` may name (default hostname, as Ironic).
SORT_KEYS = ("hostname", "conductor_group", "alive", "owned_nodes", "created_at",
             "updated_at")


def _page(rows, args, limit):
    """``rows`` sorted, after ``marker`` (a hostname), at most ``limit``: Ironic's
    paging, which clients (``baremetal conductor list --limit``) rely on. The
    rows are few, so this is done here rather than in the database."""
    sort_key = args.get("sort_key", "hostname")
    sort_dir = args.get("sort_dir", "asc")
    if sort_key not in SORT_KEYS:
        raise exception.Invalid(reason="cannot sort conductors by %r; allowed sort keys: "
                                       "%s" % (sort_key, ", ".join(SORT_KEYS)))
    if sort_dir not in ("asc", "desc"):
        raise exception.Invalid(reason="sort direction %r is not one of asc, desc"
                                       % sort_dir)
    rows = sorted(rows, key=lambda r: (r[sort_key], r["hostname"]),
                  reverse=sort_dir == "desc")
    marker = args.get("marker")
    if marker is not None:
        hosts = [r["hostname"] for r in rows]
        if marker not in hosts:
            raise exception.Invalid(reason="marker %s is not the hostname of a conductor"
                                           % marker)
        rows = rows[hosts.index(marker) + 1:]
    return rows[:limit]


@blueprint.get("/v1/conductors")
def list_conductors():
    utils.check_query(("detail", "limit", "marker", "fields", "sort_key", "sort_dir"))
    detail = bool(utils.query_bool("detail", False))
    fields = utils.query_fields(FIELDS)
    if detail and fields is not None:
        raise errors.APIError(
            "Query parameters detail=true and fields cannot be combined: detail asks for "
            "every field and fields for some; drop one of them (baremetal conductor list "
            "takes --long or --fields).")
    limit = utils.query_limit()
    args = flask.request.args
    rows = _page(_summaries(fields, args.get("sort_key")), args, limit)
    docs = [utils.select_fields(conductor_doc(r, detail or bool(fields)), fields)
            for r in rows]
    body = {"conductors": docs}
    next_url = utils.next_link("conductors", rows, limit, marker_key="hostname")
    if next_url:
        body["next"] = next_url
    return utils.json_response(body)


@blueprint.get("/v1/conductors/<hostname>")
def show_conductor(hostname):
    utils.check_query(("fields",))
    fields = utils.query_fields(FIELDS)
    rows = _summaries(fields, hostname=hostname)
    if not rows:
        raise exception.ConductorNotFound(conductor=hostname)
    return utils.json_response(utils.select_fields(conductor_doc(rows[0], detail=True),
                                                   fields))
