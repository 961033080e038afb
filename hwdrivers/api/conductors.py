"""/v1/conductors: the conductor processes, their group, whether alive, nodes owned.

``alive`` means online and heartbeating within ``[conductor]
heartbeat_timeout``; ``owned_nodes`` counts the nodes each live conductor
owns on its group's hash ring right now (conductor/hash_ring.py), so an
operator sees a dead conductor's nodes move, and a new one's arrive.
"""

import flask

from hwdrivers.api import utils
from hwdrivers.common import exception
from hwdrivers.conductor import hash_ring

blueprint = flask.Blueprint("conductors", __name__)

FIELDS = ("hostname", "conductor_group", "alive", "owned_nodes", "links", "drivers",
          "created_at", "updated_at")


def _summaries():
    manager = utils.manager()
    rings = getattr(manager, "rings", None) or hash_ring.RingManager(utils.conf())
    return hash_ring.conductor_summaries(manager.registry, rings)


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


@blueprint.get("/v1/conductors")
def list_conductors():
    utils.check_query(("detail", "limit", "marker", "fields", "sort_key", "sort_dir"))
    detail = bool(utils.query_bool("detail", False))
    fields = utils.query_fields(FIELDS)
    docs = [utils.select_fields(conductor_doc(r, detail or bool(fields)), fields)
            for r in _summaries()]
    return utils.json_response({"conductors": docs})


@blueprint.get("/v1/conductors/<hostname>")
def show_conductor(hostname):
    utils.check_query(("fields",))
    for row in _summaries():
        if row["hostname"] == hostname:
            return utils.json_response(conductor_doc(row, detail=True))
    raise exception.ConductorNotFound(conductor=hostname)
