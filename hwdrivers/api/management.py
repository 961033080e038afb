"""/v1/nodes/<node>/management: boot device (set is synchronous, as in Ironic)."""

import flask

from hwdrivers.api import utils

blueprint = flask.Blueprint("management", __name__)


@blueprint.get("/v1/nodes/<ident>/management/boot_device")
def get_boot_device(ident):
    utils.check_query(())
    result = utils.manager().get_boot_device(utils.context(), ident) or {}
    return utils.json_response({"boot_device": result.get("boot_device"),
                                "persistent": result.get("persistent")})


@blueprint.put("/v1/nodes/<ident>/management/boot_device")
def set_boot_device(ident):
    utils.check_query(())
    body = utils.json_body()
    utils.check_keys(body, ("boot_device", "persistent"), "boot device request")
    device = utils.require(body, "boot_device", str, "boot device request", "a string")
    # As Ironic's args.boolean: JSON booleans or its boolean strings ("true",
    # "False", "1"...), null or absent meaning not persistent.
    persistent = body.get("persistent")
    persistent = False if persistent is None else utils.check_bool(persistent, "persistent")
    utils.manager().set_boot_device(utils.context(), ident, device,
                                    persistent=persistent)
    return utils.empty_response(204)


@blueprint.get("/v1/nodes/<ident>/management/boot_device/supported")
def supported_boot_devices(ident):
    utils.check_query(())
    devices = utils.manager().get_supported_boot_devices(utils.context(), ident)
    return utils.json_response({"supported_boot_devices": [
        getattr(d, "value", d) for d in devices]})


@blueprint.put("/v1/nodes/<ident>/management/inject_nmi")
def inject_nmi(ident):
    """Ironic 1.29: synchronous; 204 once the BMC accepted the NMI."""
    utils.check_query(())
    if utils.request_body().strip():
        utils.check_keys(utils.json_body(), (), "inject NMI request")
    utils.manager().inject_nmi(utils.context(), ident)
    return utils.empty_response(204)
