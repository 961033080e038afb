"""/v1/conductors: the conductor processes and whether they are alive."""

import datetime

import flask

from hwdrivers.api import utils

blueprint = flask.Blueprint("conductors", __name__)


def _alive(row):
    if not row.get("online") or row.get("updated_at") is None:
        return False
    age = (datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - row["updated_at"])
    return age.total_seconds() <= utils.conf().conductor.heartbeat_timeout


def conductor_doc(row, detail):
    doc = {
        "hostname": row["hostname"],
        "conductor_group": "",
        "alive": _alive(row),
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
    fields = utils.query_fields(("hostname", "conductor_group", "alive", "links",
                                 "drivers", "created_at", "updated_at"))
    rows = utils.manager().list_conductors(utils.context())
    docs = [utils.select_fields(conductor_doc(r, detail or bool(fields)), fields)
            for r in rows]
    return utils.json_response({"conductors": docs})


@blueprint.get("/v1/conductors/<hostname>")
def show_conductor(hostname):
    utils.check_query(("fields",))
    row = utils.manager().get_conductor(utils.context(), hostname)
    return utils.json_response(conductor_doc(row, detail=True))
