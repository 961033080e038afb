"""/v1/drivers: the enabled hardware types (Ironic's "dynamic" drivers)."""

import flask

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import utils
from hwdrivers.common import interface_types

blueprint = flask.Blueprint("drivers", __name__)

_IRONIC_ONLY_KINDS = ("network", "storage", "firmware")


def _hosts(name):
    """Online conductors that load ``name``; this process when none registered."""
    hosts = [c["hostname"] for c in utils.manager().list_conductors(utils.context())
             if c.get("online") and name in (c.get("hardware_types") or [])]
    return hosts or [utils.conf().host]


def driver_doc(info, detail):
    name = info["name"]
    doc = {
        "name": name,
        "hosts": _hosts(name),
        "type": "dynamic",
        # Not in Ironic's document; its clients ignore it, and the
        # hwdrivers CLI shows the same driver list over HTTP as locally.
        "description": info.get("description") or "",
        "links": utils.links("drivers", name),
        "properties": utils.links("drivers", name, "/properties"),
    }
    if detail:
        for kind in interface_types.ALL:
            doc["default_%s_interface" % kind] = info["default_%s_interface" % kind]
            doc["enabled_%s_interfaces" % kind] = info["enabled_%s_interfaces" % kind]
        for kind in _IRONIC_ONLY_KINDS:
            doc["default_%s_interface" % kind] = None
            doc["enabled_%s_interfaces" % kind] = None
    return microversions.hide("driver", doc, microversions.current())


@blueprint.get("/v1/drivers")
def list_drivers():
    utils.check_query(("type", "detail"))
    kind = flask.request.args.get("type")
    if kind not in (None, "dynamic", "classic"):
        raise errors.APIError("Query parameter type must be dynamic or classic, got %r."
                              % kind)
    detail = bool(utils.query_bool("detail", False))
    infos = [] if kind == "classic" else utils.manager().list_drivers(utils.context())
    return utils.json_response({"drivers": [driver_doc(i, detail) for i in infos]})


@blueprint.get("/v1/drivers/<name>")
def show_driver(name):
    utils.check_query(())
    return utils.json_response(driver_doc(
        utils.manager().get_driver(utils.context(), name), detail=True))


@blueprint.get("/v1/drivers/<name>/properties")
def driver_properties(name):
    """Ironic's flat ``{field: description}`` over every interface's fields.

    ``?detail=true`` (a hwdrivers extension) answers ``{"properties": <that
    flat map>, "interfaces": {kind: [declaration, ...]}}``: each field's
    secret flag, type, required and default, per interface, exactly as the
    local CLI reads them. Ironic's clients never send it, so ``baremetal
    driver property list`` keeps its plain map.
    """
    utils.check_query(("detail",))
    detail = bool(utils.query_bool("detail", False))
    per_kind = utils.manager().driver_properties(utils.context(), name)
    flat = {}
    for fields in per_kind.values():
        for field in fields:
            text = (field["description"] or field["name"]).rstrip(". ")
            flat[field["name"]] = "%s. %s" % (
                text, "Required." if field["required"] else "Optional.")
    if detail:
        return utils.json_response({"properties": flat, "interfaces": per_kind})
    return utils.json_response(flat)


@blueprint.get("/v1/drivers/<name>/vendor_passthru/methods")
def driver_vendor_methods(name):
    """Driver-level vendor methods (``baremetal driver passthru list``): none.

    hwdrivers' vendor methods belong to nodes (``/v1/nodes/<node>/
    vendor_passthru/methods``); a hardware type has none of its own, which
    Ironic answers as an empty map.
    """
    utils.check_query(())
    utils.manager().get_driver(utils.context(), name)  # 404 for an unknown one
    return utils.json_response({})
