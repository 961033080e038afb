"""/v1/conductors: the conductor processes, their group, whether alive, nodes owned.

``alive`` means online and heartbeating within ``[conductor]
heartbeat_timeout``; ``owned_nodes`` counts the nodes each live conductor
owns on its group's hash ring right now (conductor/hash_ring.py), so an
operator sees a dead conductor's nodes move, and a new one's arrive.
"""

import flask

from hwdrivers.api import utils
from hwdrivers.conductor import hash_ring

blueprint = flask.Blueprint("conductors", __name__)

#: Nodes read per page while counting ownership.
_PAGE = 1000


def _owned_counts():
    """``{hostname: nodes owned}`` over every node, by the current rings."""
    manager = utils.manager()
    rings = getattr(manager, "rings", None) or hash_ring.RingManager(utils.conf())
    rings.refresh()
    counts = {}
    marker = None
    while True:
        page = manager.list_nodes(utils.context(), limit=_PAGE, marker=marker)
        for host, count in rings.owned_counts(manager.registry, page).items():
            counts[host] = counts.get(host, 0) + count
        if len(page) < _PAGE:
            return counts
        marker = page[-1].uuid


def conductor_doc(row, detail, owned=None):
    doc = {
        "hostname": row["hostname"],
        "conductor_group": row.get("conductor_group") or "",
        "alive": hash_ring.is_alive(row, timeout=utils.conf().conductor.heartbeat_timeout),
        "links": utils.links("conductors", row["hostname"]),
    }
    if owned is not None:
        doc["owned_nodes"] = owned.get(row["hostname"], 0)
    if detail:
        doc.update({
            "drivers": list(row.get("hardware_types") or []),
            "created_at": utils.isotime(row.get("created_at")),
            "updated_at": utils.isotime(row.get("updated_at")),
        })
    return doc


@blueprint.get("/v1/conductors")
def list_conductors():
    utils.check_query(("detail", "limit", "marker", "fields", "sort_key", "sort_dir"))
    detail = bool(utils.query_bool("detail", False))
    fields = utils.query_fields(("hostname", "conductor_group", "alive", "links",
                                 "drivers", "created_at", "updated_at", "owned_nodes"))
    rows = utils.manager().list_conductors(utils.context())
    owned = _owned_counts() if fields is None or "owned_nodes" in fields else None
    docs = [utils.select_fields(conductor_doc(r, detail or bool(fields), owned), fields)
            for r in rows]
    return utils.json_response({"conductors": docs})


@blueprint.get("/v1/conductors/<hostname>")
def show_conductor(hostname):
    utils.check_query(("fields",))
    row = utils.manager().get_conductor(utils.context(), hostname)
    return utils.json_response(conductor_doc(row, detail=True, owned=_owned_counts()))
