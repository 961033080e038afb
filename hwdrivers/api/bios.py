"""/v1/nodes/<node>/bios and /bios/<name>: the node's cached BIOS settings (Ironic 1.40).

The table is filled by inspection and after every BIOS clean step
(conductor/cleaning.py), never by this read: the API does not wait on a
BMC. ``?detail=true`` (Ironic 1.74) adds each attribute's registry entry;
``/bios/<name>`` always has it, keyed by the name as Ironic answers. Below
API 1.74 the registry fields are left out, as Ironic does
(microversions.FIELD_VERSIONS).
"""

import flask

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import utils
from hwdrivers.conductor import cleaning

blueprint = flask.Blueprint("bios", __name__)
microversions.gate(blueprint)

_FIELDS = ("name", "value", "created_at", "updated_at", "links") + \
    cleaning.BIOS_DETAIL_FIELDS


def _doc(node_uuid, row, detail):
    doc = {"name": row["name"], "value": row["value"],
           "created_at": utils.isotime(row["created_at"]),
           "updated_at": utils.isotime(row["updated_at"]),
           "links": utils.links("nodes", node_uuid, "/bios/%s" % row["name"])}
    if detail:
        doc.update({field: row[field] for field in cleaning.BIOS_DETAIL_FIELDS})
    return doc


#: The API version of the listing's ``detail`` and ``fields`` (Ironic's allow_query_bios).
QUERY_VERSION = (1, 74)


@blueprint.get("/v1/nodes/<ident>/bios")
def list_settings(ident):
    utils.check_query(("detail", "fields"))
    for name in ("detail", "fields"):  # as Ironic's allow_query_bios: 400 below 1.74
        if name in flask.request.args:
            microversions.require("Query parameter %s of a BIOS listing" % name,
                                  QUERY_VERSION, code=400)
    detail = utils.query_bool("detail", False)
    if detail and flask.request.args.get("fields"):
        raise errors.APIError("Query parameter fields cannot be combined with "
                              "detail=true; ask for one of them.")
    fields = utils.query_fields(_FIELDS, resource="bios")
    record, rows = cleaning.bios_settings(utils.context(), ident)
    hidden = microversions.hidden_fields("bios", microversions.current())
    return utils.json_response({"bios": [
        utils.select_fields(_doc(record["uuid"], row, detail or bool(fields)), fields,
                            hidden)
        for row in rows]})


@blueprint.get("/v1/nodes/<ident>/bios/<name>")
def show_setting(ident, name):
    utils.check_query(())
    record, row = cleaning.bios_setting(utils.context(), ident, name)
    return utils.json_response({name: microversions.hide(
        "bios", _doc(record["uuid"], row, True), microversions.current())})
