"""/v1/nodes/<node>/states: read states, change power and provision state.

Changes answer 202 at once: the request is checked and the target published
inline (a bad target, a locked node or no free worker is refused before
anything changes), then a conductor worker acts. Clients poll the node.
"""

import json

import flask

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import utils

blueprint = flask.Blueprint("states", __name__)

POWER_TARGETS = ("power on", "power off", "rebooting", "soft power off",
                 "soft rebooting")

#: Ironic provision verbs we serve -> the conductor's action names.
PROVISION_ACTIONS = {
    "manage": "manage",
    "provide": "provide",
    "active": "deploy",
    "deploy": "deploy",
    "rebuild": "rebuild",
    "deleted": "undeploy",
    "undeploy": "undeploy",
    "abort": "abort",
    "inspect": "inspect",
    "clean": "clean",
}
#: Ironic's version that accepts a config drive with ``rebuild`` (below it, with
#: ``active`` only).
REBUILD_CONFIGDRIVE_VERSION = (1, 35)
#: Ironic verbs we know but do not serve yet.
_UNSUPPORTED_PROVISION = ("adopt", "rescue", "unrescue",
                          "service", "unhold", "unservice")


def states_location(node_ident, base=None):
    if base is None:
        base = utils.base_url()
    return "%s/v1/nodes/%s/states" % (base, node_ident)


def states_doc(states, base=None, version=None):
    """The document of ``GET /v1/nodes/<node>/states`` (also served by fastpath).

    ``states``: what ``manager.get_node_states`` returns (a dict of the
    node's state columns and its uuid); ``version``: the request's API
    version (fields it does not have are left out), the Flask request's
    when not given.
    """
    if version is None:
        version = microversions.current()
    return microversions.hide("node_states", {
        "power_state": states["power_state"],
        "target_power_state": states["target_power_state"],
        "provision_state": states["provision_state"],
        "target_provision_state": states["target_provision_state"],
        "provision_updated_at": utils.isotime(states.get("provision_updated_at")),
        "last_error": states["last_error"],
        "console_enabled": bool(states.get("console_enabled")),
        "raid_config": {},
        "target_raid_config": {},
        "boot_mode": None,
        "secure_boot": None,
        "links": utils.links("nodes", states["uuid"], "/states", base=base),
    }, version)


#: Ironic's version that added soft power actions and ``timeout`` (below it, a 406).
SOFT_POWER_VERSION = (1, 27)
_SOFT_TARGETS = ("soft power off", "soft rebooting")


def power_request(body, version):
    """``(target, timeout)`` of a checked power request body (also used by fastpath).

    ``version``: the request's API version; as Ironic, a soft target or a
    timeout needs 1.27 (an older client would not expect either).
    """
    utils.check_keys(body, ("target", "timeout"), "power state request")
    target = utils.require(body, "target", str, "power state request", "a string")
    if target not in POWER_TARGETS:
        raise errors.APIError("Field target %r is not a power state; use one of: %s."
                              % (target, ", ".join(POWER_TARGETS)))
    timeout = body.get("timeout")
    if version < SOFT_POWER_VERSION and (target in _SOFT_TARGETS or timeout is not None):
        raise microversions.too_old(
            "Power target %s" % target if target in _SOFT_TARGETS else "Field timeout",
            SOFT_POWER_VERSION, version)
    if timeout is not None:
        if type(timeout) is str and timeout.strip().isascii() and timeout.strip().isdigit():
            timeout = int(timeout)  # Ironic's args.integer takes "30" as 30
        utils.check_type(timeout, "timeout", int, "a positive integer (seconds)")
        if timeout <= 0:
            raise errors.APIError("Field timeout must be a positive integer (seconds), "
                                  "got %d." % timeout)
    return target, timeout


@blueprint.get("/v1/nodes/<ident>/states")
def show_states(ident):
    utils.check_query(())
    states = utils.manager().get_node_states(utils.context(), ident)
    return utils.json_response(states_doc(states))


@blueprint.put("/v1/nodes/<ident>/states/power")
def set_power(ident):
    utils.check_query(())
    target, timeout = power_request(utils.json_body(), microversions.current())
    node = utils.manager().change_power_state(utils.context(), ident, target,
                                              timeout=timeout, wait=False)
    return utils.empty_response(202, location=states_location(node.uuid))


@blueprint.put("/v1/nodes/<ident>/states/provision")
def set_provision(ident):
    utils.check_query(())
    body = utils.json_body()
    utils.check_keys(body, ("target", "configdrive", "clean_steps", "deploy_steps",
                            "rescue_password", "disable_ramdisk", "service_steps"),
                     "provision state request")
    target = utils.require(body, "target", str, "provision state request", "a string")
    if target in _UNSUPPORTED_PROVISION:
        raise errors.APIError("Provision target %s is not supported by hwdrivers; "
                              "supported: %s." % (target,
                                                  ", ".join(sorted(PROVISION_ACTIONS))))
    if target not in PROVISION_ACTIONS:
        raise errors.APIError("Field target %r is not a provision action; use one of: "
                              "%s." % (target, ", ".join(sorted(PROVISION_ACTIONS))))
    microversions.check_action(target, microversions.current())
    _check_disable_ramdisk(target, body.get("disable_ramdisk"))
    extra = sorted(k for k in body if k not in ("target", "configdrive", "clean_steps",
                                                "disable_ramdisk")
                   and body[k] not in (None, [], {}))
    if extra:
        raise errors.APIError("Field(s) %s are not supported by hwdrivers (it runs no "
                              "custom deploy steps, rescue or service yet); send "
                              "target and, to deploy, configdrive." % ", ".join(extra))
    clean_steps = body.get("clean_steps")
    if target == "clean" and not clean_steps:
        raise errors.APIError("Field clean_steps is required with target clean: a list of "
                              "{\"interface\", \"step\", \"args\"} (hwdrivers runs "
                              "manual cleaning only).")
    if clean_steps is not None and target != "clean":
        raise errors.APIError("Field clean_steps is accepted with target clean only, not "
                              "%s." % target)
    configdrive = body.get("configdrive")
    if configdrive is not None and not isinstance(configdrive, (str, dict)):
        raise errors.APIError("Field configdrive must be a JSON object (meta_data, "
                              "user_data, network_data) or a string (a gzipped, "
                              "base64-encoded ISO, or its URL).")
    if configdrive not in (None, "", {}) and PROVISION_ACTIONS[target] not in ("deploy",
                                                                              "rebuild"):
        raise errors.APIError("Field configdrive is accepted with target active, deploy "
                              "or rebuild only, not %s." % target)
    if configdrive not in (None, "", {}) and target == "rebuild":
        _check_rebuild_configdrive_version()
    if isinstance(configdrive, dict) and configdrive:
        _check_configdrive_object_version()
    manager = utils.manager()
    node = manager.get_node(utils.context(), ident)
    if target == "abort" and node.provision_state == "inspect wait":
        _check_inspect_abort_version()
    kwargs = {"configdrive": configdrive} if configdrive not in (None, "", {}) else {}
    if clean_steps is not None:
        kwargs["clean_steps"] = clean_steps
    manager.do_provisioning_action(utils.context(), node.uuid, PROVISION_ACTIONS[target],
                                   **kwargs)
    return utils.empty_response(202, location=states_location(node.uuid))


#: Ironic's version that takes ``disable_ramdisk`` (with target clean).
DISABLE_RAMDISK_VERSION = (1, 70)


def _check_disable_ramdisk(target, value):
    """``disable_ramdisk`` (``baremetal node clean --disable-ramdisk``), as Ironic checks it.

    hwdrivers' manual cleaning never boots a ramdisk (its steps act through
    the BMC), so the flag changes nothing; it was refused as unsupported,
    failing Ironic's clients and scripts that send it for out-of-band steps.
    """
    if value is None:
        return
    if target != "clean":
        raise errors.APIError("Field disable_ramdisk is accepted with target clean only, "
                              "not %s." % target)
    if not isinstance(value, bool):
        raise errors.APIError("Field disable_ramdisk must be true or false, got %s."
                              % json.dumps(value))
    microversions.require("Field disable_ramdisk", DISABLE_RAMDISK_VERSION)


def _check_rebuild_configdrive_version():
    """A config drive with rebuild needs API 1.35, as in Ironic: an older
    client would not expect the node's config drive to be replaced."""
    microversions.require("Field configdrive with target rebuild",
                          REBUILD_CONFIGDRIVE_VERSION, code=400,
                          instead="or rebuild without configdrive to keep the node's")


#: Ironic's version that takes a config drive as a JSON object (built by the
#: conductor); below it a 400, as its check_allow_configdrive answers (an ISO
#: string or its URL needs no version). Ironic also wants 1.59 for
#: ``vendor_data`` in it; hwdrivers' own CLI sends objects at 1.56, so that
#: key is taken from 1.56.
CONFIGDRIVE_OBJECT_VERSION = (1, 56)


def _check_configdrive_object_version():
    microversions.require("Field configdrive as a JSON object", CONFIGDRIVE_OBJECT_VERSION,
                          code=400,
                          instead="or send it as a gzipped, base64-encoded ISO or its URL")


#: Ironic's version that can abort an inspection waiting for its ramdisk
#: (allow_inspect_abort); below it such an abort is a 406 there.
INSPECT_ABORT_VERSION = (1, 41)


def _check_inspect_abort_version():
    microversions.require("Aborting an inspection in provision state 'inspect wait'",
                          INSPECT_ABORT_VERSION)
