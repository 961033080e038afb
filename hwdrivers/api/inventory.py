"""/v1/nodes/<node>/inventory: what the node's last inspection found (Ironic 1.81).

``{"inventory": {...}, "plugin_data": {...}}``, the inventory in
ironic-python-agent's shape whichever inspect interface produced it
(conductor/inspection.py); 404 naming the node until it was inspected; 406
below API 1.81.
"""

import flask

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import ramdisk
from hwdrivers.api import utils
from hwdrivers.conductor import inspection

blueprint = flask.Blueprint("inventory", __name__)

#: Most NICs an inventory may list. Each MAC costs the unauthenticated
#: lookup a query and the node a port: 15,000 made one post hold an API
#: thread for 5 s (sent for no waiting node, just as long) and gave the
#: node 15,000 ports. A ramdisk has no SR-IOV VFs configured; real machines
#: have tens of NICs, never hundreds.
MAX_INTERFACES = 256


#: Ironic's version that added ``GET /v1/nodes/<node>/inventory``.
INVENTORY_VERSION = (1, 81)


@blueprint.get("/v1/nodes/<ident>/inventory")
def get_inventory(ident):
    """The node's last inspection data; below API 1.81 a 406 naming the version.

    Served at any version before, a request without a version header (1.1)
    included, where Ironic has no such resource (it answers 404); refused as
    hwdrivers refuses a field newer than the version asked for
    (microversions.py), saying which version to ask for.
    """
    utils.check_query(())
    microversions.require("GET /v1/nodes/<node>/inventory", INVENTORY_VERSION)
    return utils.json_response(inspection.stored_inventory(utils.context(), ident))


@blueprint.post("/v1/continue_inspection")
def continue_inspection():
    """The ramdisk posts what it found (IPA's inspection call; Ironic 1.84).

    Body: ``{"inventory": {"interfaces": [{"mac_address": ...}, ...], ...},
    ...plugin data}``. Like lookup, it needs no user credential: only a node
    waiting in ``inspect wait`` accepts it, found by ``node_uuid`` or by a
    port with one of the inventory's MACs. 202 with ``{"uuid": <node>}``.
    """
    utils.check_query(("node_uuid",))
    body = utils.json_body()
    inventory = body.get("inventory")
    if not isinstance(inventory, dict):
        raise errors.APIError("Field inventory is required: a JSON object with at least "
                              "interfaces, a list of {\"mac_address\": ...}.")
    nics = inventory.get("interfaces")
    if (not isinstance(nics, list) or not nics
            or not all(isinstance(n, dict) and isinstance(n.get("mac_address"), str)
                       for n in nics)):
        raise errors.APIError("Field inventory.interfaces must be a non-empty list of "
                              "objects with a mac_address string.")
    if len(nics) > MAX_INTERFACES:
        raise errors.APIError(
            "Field inventory.interfaces lists %d NICs; at most %d are accepted: no "
            "machine has more, so the ramdisk's collection is broken (send the "
            "machine's NICs only)." % (len(nics), MAX_INTERFACES))
    plugin_data = {k: v for k, v in body.items() if k != "inventory"}
    result = ramdisk.without_node_details(lambda: utils.manager().continue_inspection(
        utils.context(),
        inspection.find_waiting_node(inventory, flask.request.args.get("node_uuid")),
        inventory=inventory, plugin_data=plugin_data), "inspection data")
    return utils.json_response(result, status=202)
