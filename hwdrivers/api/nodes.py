"""/v1/nodes: enroll, list, show, patch, delete nodes, and their sub-resources.

Documents use Ironic's field names so Ironic clients read them unchanged.
Fields Ironic has and hwdrivers does not model (instance_uuid, owner, ...)
are present with empty values; they cannot be set. driver_info comes from
the manager's masked view: secrets can be written but never read back.
"""

import json
import uuid as uuid_mod

import flask

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import patch as patch_mod
from hwdrivers.api import utils
from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.common import node_secrets
from hwdrivers.common import states as states_mod
from hwdrivers.drivers import params
from hwdrivers.objects import node as node_obj

blueprint = flask.Blueprint("nodes", __name__)

#: Ironic interface kinds we do not implement: always null in documents.
_UNMODELED_INTERFACES = ("network", "storage", "firmware")
INTERFACE_FIELDS = interface_types.NODE_FIELDS

#: Ironic node fields hwdrivers does not model, with the value we show.
UNMODELED = {
    "instance_uuid": None, "chassis_uuid": None,
    "clean_step": {}, "deploy_step": {}, "service_step": {},
    "raid_config": {}, "target_raid_config": {}, "resource_class": None,
    "protected": False, "protected_reason": None,
    "owner": None, "lessee": None, "description": None, "allocation_uuid": None,
    "retired": False, "retired_reason": None,
    "network_data": {}, "boot_mode": None, "secure_boot": None, "shard": None,
    "parent_node": None, "inspection_started_at": None,
    "inspection_finished_at": None, "traits": [], "disable_power_off": False,
    "instance_name": None, "health": None,
}
UNMODELED.update({"%s_interface" % k: None for k in _UNMODELED_INTERFACES})

#: Our columns shown under the same name.
_DIRECT = ("uuid", "name", "driver", "driver_info", "driver_internal_info",
           "instance_info", "properties", "extra", "power_state",
           "target_power_state", "provision_state", "target_provision_state",
           "last_error", "maintenance", "maintenance_reason", "fault",
           "console_enabled", "console_error", "conductor_group",
           "reservation", "automated_clean") + INTERFACE_FIELDS

SUMMARY_FIELDS = ("uuid", "name", "instance_uuid", "power_state", "provision_state",
                  "maintenance", "links")

ALL_FIELDS = frozenset(_DIRECT + tuple(UNMODELED) + (
    "created_at", "updated_at", "provision_updated_at", "conductor", "links",
    "ports", "portgroups", "states", "volume"))

#: What create and PATCH accept (the manager checks types and values).
#: ``automated_clean`` (1.47): true, false or null, the node's override of
#: ``[conductor] automated_clean`` (conductor/provisioning.py).
WRITABLE = ("name", "driver", "driver_info", "instance_info", "properties",
            "extra", "conductor_group", "automated_clean") + INTERFACE_FIELDS
DICT_FIELDS = ("driver_info", "instance_info", "properties", "extra")
#: Boolean fields that may be null, taken as Ironic takes them: JSON booleans
#: or its boolean strings (``baremetal node set --automated-clean`` sends "True").
NULLABLE_BOOL_FIELDS = ("automated_clean",)


def _null_dicts_as_empty(values):
    """``values`` with a null object field (``"extra": null``) as ``{}``, as Ironic stores it.

    Ironic's schema takes null for driver_info, instance_info, properties and
    extra, on create and PATCH, and its objects keep null as an empty object;
    scripts and clients written against it send null to mean "nothing".
    """
    for field in DICT_FIELDS:
        if field in values and values[field] is None:
            values[field] = {}
    return values


def _bools(values):
    """``values`` with :data:`NULLABLE_BOOL_FIELDS` as real booleans (or null); 400 otherwise."""
    for field in NULLABLE_BOOL_FIELDS:
        if values.get(field) is not None:
            values[field] = utils.check_bool(values[field], field)
    return values

#: Fields Ironic's create schema takes that hwdrivers sets through their own
#: endpoints: a create may send the value every new node has (false or null,
#: as a node exported from Ironic carries), true is refused with the way.
CREATE_AS_NEW = ("maintenance", "console_enabled")

READ_ONLY_HINTS = {
    "uuid": "a node's UUID never changes",
    "power_state": "use PUT /v1/nodes/<node>/states/power",
    "target_power_state": "use PUT /v1/nodes/<node>/states/power",
    "provision_state": "use PUT /v1/nodes/<node>/states/provision",
    "target_provision_state": "use PUT /v1/nodes/<node>/states/provision",
    "maintenance": "use PUT or DELETE /v1/nodes/<node>/maintenance",
    "maintenance_reason": "use PUT /v1/nodes/<node>/maintenance",
    "driver_internal_info": "it belongs to the driver",
    "reservation": "it is the node's lock, held by a conductor",
    "last_error": "the conductor records it",
    "console_enabled": "use PUT /v1/nodes/<node>/states/console",
    "console_error": "the console manager records it",
    "created_at": None, "updated_at": None, "links": None,
}

#: Filters on fields hwdrivers does not model (every node's is null): a
#: value matches no node, as Ironic would answer for such nodes.
UNMODELED_FILTERS = ("resource_class", "owner", "lessee", "project", "instance_uuid",
                     "instance_name", "chassis_uuid", "description_contains",
                     "parent_node", "shard")
#: Boolean filters on unmodeled fields that are false for every node
#: (``retired``, ``sharded``): true matches no node, false every node.
UNMODELED_BOOL_FILTERS = ("retired", "sharded")

NODE_QUERY = ("driver", "maintenance", "provision_state", "associated", "limit",
              "marker", "sort_key", "sort_dir", "fields", "detail", "conductor_group",
              "fault", "include_children", "conductor") + UNMODELED_FILTERS + UNMODELED_BOOL_FILTERS

#: Node list filters newer than API 1.1 -> the version that added them, as
#: Ironic's check_allow_filter_by_* and check_allow_specify_* refuse them
#: below it (a 406, whatever the value, empty included); ``fault`` (1.42) is
#: checked with its value by :func:`_check_fault_filter`.
FILTER_VERSIONS = {
    "provision_state": (1, 9), "driver": (1, 16), "resource_class": (1, 21),
    "conductor_group": (1, 46), "conductor": (1, 49), "owner": (1, 50), "lessee": (1, 65),
    "shard": (1, 82), "sharded": (1, 82), "include_children": (1, 83),
    "parent_node": (1, 83), "instance_name": (1, 104),
}
_NEWEST_FILTER = max(FILTER_VERSIONS.values())


def _check_filter_versions(args, version):
    """406 naming a filter of the query that ``version`` does not have.

    hwdrivers answered them at any version, where Ironic refuses them: a
    client pinned to an old version got an answer Ironic never gives it.
    """
    if version >= _NEWEST_FILTER:  # what clients negotiate: nothing to look at
        return
    too_new = sorted((added, name) for name, added in FILTER_VERSIONS.items()
                     if version < added and name in args)
    if too_new:
        raise microversions.too_old(
            "Query parameter %s" % ", ".join(n for _, n in too_new), too_new[-1][0], version,
            instead="or leave it out")


#: Every provision state Ironic's state machine has: a filter on one of
#: them is answered (hwdrivers never reaches some: no node matches), any
#: other value is a typo, refused as Ironic refuses it.
IRONIC_PROVISION_STATES = (
    "enroll", "verifying", "manageable", "available", "active", "wait call-back",
    "deploying", "deploy failed", "deploy hold", "deleting", "cleaning", "clean wait",
    "clean failed", "clean hold", "error", "rebuild", "inspecting", "inspect failed",
    "inspect wait", "adopting", "adopt failed", "rescue", "rescue failed",
    "rescue wait", "rescuing", "unrescue failed", "unrescuing", "service", "servicing",
    "service wait", "service failed", "service hold")


#: Ironic's faults (ironic/common/faults.py VALID_FAULTS): what ``?fault=`` takes.
#: hwdrivers sets two (``power failure``: the power sync; ``clean failure``: a
#: failed clean step); a filter on the others matches no node.
FAULTS = ("power failure", "clean failure", "rescue abort failure", "service failure")
#: Ironic's version that added ``?fault=`` (and the field).
FAULT_FILTER_VERSION = (1, 42)


def _check_fault_filter(fault):
    """``?fault=``: from API 1.42 (406 below) and one of :data:`FAULTS` (400), as Ironic.

    A misspelt fault (``clean-failure``) matched no node, an empty list that
    reads as "no node has failed cleaning".
    """
    microversions.require("Query parameter fault", FAULT_FILTER_VERSION)
    if fault not in FAULTS:
        raise errors.APIError("Query parameter fault: %s is not a fault; use one of: %s."
                              % (json.dumps(fault)[:80], ", ".join(FAULTS)))


_SUB_RESOURCES = ("ports", "portgroups", "states", "volume")


def node_doc(values, fields=None, detail=True, base=None, host=None, hidden=None):
    """Ironic's node document from a manager.node_view() dict.

    ``base`` (utils.base_url()), ``host`` ([DEFAULT] host) and ``hidden``
    (the fields the request's API version does not have:
    microversions.hidden_fields) may be given by a caller building many
    documents, so a listing looks them up once.
    """
    uuid = values["uuid"]
    values = node_secrets.mask(values)
    get = values.get
    doc = dict(UNMODELED)
    for key in _DIRECT:
        doc[key] = get(key)
    for key in node_obj.JSON_FIELDS:
        doc[key] = doc[key] or {}
    doc["maintenance"] = bool(doc["maintenance"])
    doc["created_at"] = utils.isotime(get("created_at"))
    doc["updated_at"] = utils.isotime(get("updated_at"))
    doc["provision_updated_at"] = utils.isotime(get("provision_updated_at"))
    if "conductor" in values:  # the owner the view computed; None: no conductor alive
        doc["conductor"] = values["conductor"]
    else:
        doc["conductor"] = host if host is not None else utils.conf().host
    if base is None:
        base = utils.base_url()
    doc.update(utils.resource_links("nodes", uuid, _SUB_RESOURCES, base))
    if fields is None and not detail:
        fields = SUMMARY_FIELDS
    _show_current_steps(doc)
    if hidden is None:
        hidden = microversions.hidden_fields("node", microversions.current())
    if hidden and doc["provision_state"] in microversions.RENAMED_STATES:
        doc["provision_state"] = microversions.state_name(doc["provision_state"],
                                                          microversions.current())
    return utils.select_fields(doc, fields, hidden)


#: Ironic's ``clean_step``/``deploy_step``: the step running (or the one a
#: failure stopped at), from the plan and index the conductor keeps in
#: driver_internal_info (conductor/cleaning.py, deployments.py) while the
#: cleaning or deploy lasts: ``field -> (plan key, index key)``.
CURRENT_STEPS = {"clean_step": ("clean_steps", "clean_step_index"),
                 "deploy_step": ("deploy_steps", "deploy_step_index")}


def _show_current_steps(doc):
    info = doc["driver_internal_info"]
    if not info:
        return
    for field, (plan_key, index_key) in CURRENT_STEPS.items():
        plan, index = info.get(plan_key), info.get(index_key)
        if (isinstance(plan, list) and isinstance(index, int) and 0 <= index < len(plan)
                and isinstance(plan[index], dict)):
            doc[field] = plan[index]


#: Fields only manager.node_view() computes correctly (masking, composition).
#: ``conductor`` too: behind hwdrivers-api the owner comes from the hash
#: ring (RoutingManager.node_view), not this process's host name.
_VIEW_FIELDS = frozenset(("driver_info", "reservation", "conductor") + INTERFACE_FIELDS)


def _view(node, fields=None, detail=True, base=None, host=None, node_view=None,
          hidden=None):
    wanted = fields if fields is not None else (None if detail else SUMMARY_FIELDS)
    if wanted is not None and not _VIEW_FIELDS.intersection(wanted):
        # Summary lists skip composing each node's driver (a third of the
        # time of a 1,000-node list); nothing they show needs it.
        return node_doc(node.as_dict(), fields=fields, detail=detail, base=base, host=host,
                        hidden=hidden)
    if node_view is None:
        node_view = utils.manager().node_view
    return node_doc(node_view(node), fields=fields, detail=detail, base=base, host=host,
                    hidden=hidden)


def _get(ident):
    return utils.manager().get_node(utils.context(), ident)


def _driver_as_field(call):
    """Run ``call``; an unknown driver is a 400 naming the field, not a 404."""
    try:
        return call()
    except exception.DriverNotFound as exc:
        raise exception.InvalidParameterValue(
            "Field driver: %s" % exc) from None


# -- collection -------------------------------------------------------------------

def _list(detail):
    utils.check_query(NODE_QUERY)
    args = flask.request.args
    if detail and args.get("fields"):
        raise errors.APIError("Query parameter fields cannot be combined with "
                              "/nodes/detail or detail=true; ask for one of them.")
    fields = utils.query_fields(ALL_FIELDS, resource="node")
    version = microversions.current()
    _check_filter_versions(args, version)
    if args.get("sort_key"):
        microversions.check_fields("node", [args["sort_key"]], version, param="sort_key")
    limit = utils.query_limit()
    filters, matches_none = _filters(args)
    if matches_none:
        # A filter on what no node has (an instance, a resource class...).
        nodes = []
    elif args.get("conductor"):
        nodes = utils.listed_after_marker(
            lambda: _list_of_conductor(args["conductor"], filters, limit, args),
            args.get("marker"), "node", _marker_node)
    else:
        nodes = utils.listed_after_marker(
            lambda: utils.manager().list_nodes(
                utils.context(), filters=filters, limit=limit,
                marker=args.get("marker"), sort_key=_sort_key(args.get("sort_key", "id")),
                sort_dir=args.get("sort_dir", "asc")),
            args.get("marker"), "node", _marker_node)
    base, host, node_view = utils.base_url(), utils.conf().host, utils.manager().node_view
    hidden = microversions.hidden_fields("node", version)
    items = [_view(n, fields=fields, detail=detail, base=base, host=host, node_view=node_view,
                   hidden=hidden)
             for n in nodes]
    result = {"nodes": items}
    next_url = utils.next_link("nodes" + ("/detail" if flask.request.path.rstrip("/")
                                          .endswith("/detail") else ""),
                               [{"uuid": n.uuid} for n in nodes], limit)
    if next_url:
        result["next"] = next_url
    return utils.json_response(result)


def _marker_node(marker):
    """404 when no node has UUID ``marker`` (Ironic's answer to such a marker)."""
    try:
        _get(marker)
    except exception.NodeNotFound:
        raise exception.NodeNotFound(
            node=marker, hint="it is this listing's marker (the last node of the previous "
            "page), deleted since? List again without marker") from None


def _list_of_conductor(conductor, filters, limit, args):
    """One page of the nodes ``conductor`` owns (``?conductor=``, Ironic 1.49).

    Ownership is not a column (the hash ring decides it), so pages of
    the other filters are read until ``limit`` nodes match or none are
    left: unlike Ironic, which filters each page after reading it, a page
    is never short before the end, so clients following ``next`` see
    every match.
    """
    manager, context = utils.manager(), utils.context()
    host = utils.conf().host
    sort = dict(sort_key=_sort_key(args.get("sort_key", "id")),
                sort_dir=args.get("sort_dir", "asc"))
    if not hasattr(manager, "owner"):  # hwdrivers-server: its own conductor owns all
        if conductor != host:
            return []
        return manager.list_nodes(context, filters=filters, limit=limit,
                                  marker=args.get("marker"), **sort)
    marker, found = args.get("marker"), []
    while len(found) < limit:
        page = manager.list_nodes(context, filters=filters, limit=limit, marker=marker,
                                  **sort)
        for node in page:
            if manager.node_view(node).get("conductor", host) == conductor:
                found.append(node)
                if len(found) == limit:
                    break
        if len(page) < limit:
            break
        marker = page[-1].uuid
    return found


def _filters(args):
    """``(filters for list_nodes, True when no node can match)`` from the query.

    ``conductor_group`` is compared in lower case, as names are stored.
    """
    filters = {}
    for key in ("driver", "provision_state", "fault"):
        if args.get(key):
            filters[key] = args[key]
    if "fault" in filters:
        _check_fault_filter(filters["fault"])
    state = args.get("provision_state")  # "" too: no state is named so, as Ironic says
    if state is not None and state not in IRONIC_PROVISION_STATES:
        raise errors.APIError(
            "Query parameter provision_state: %r is not a provision state; use one of: "
            "%s." % (state, ", ".join(IRONIC_PROVISION_STATES)))
    group = args.get("conductor_group")
    if group is not None:
        filters["conductor_group"] = group.lower()
    maintenance = utils.query_bool("maintenance")
    if maintenance is not None:
        filters["maintenance"] = maintenance
    utils.query_bool("include_children")  # no node has children: checked, no effect
    # No instance is ever associated (hwdrivers does not deploy), so
    # associated=true matches nothing and false matches everything.
    matches_none = bool(utils.query_bool("associated"))
    for name in UNMODELED_BOOL_FILTERS:
        matches_none = bool(utils.query_bool(name)) or matches_none
    for name in UNMODELED_FILTERS:
        if args.get(name):
            matches_none = True
    for name in UUID_FILTERS:
        if name in args:
            _check_uuid_filter(name, args[name])
    return filters, matches_none


#: Filters Ironic validates as UUIDs (args.uuid): anything else is its 400.
UUID_FILTERS = ("instance_uuid", "chassis_uuid")


def _check_uuid_filter(name, value):
    """400 unless ``value`` is a UUID, as Ironic: a mistyped UUID matched no node,
    an empty list that reads as "nothing is deployed there"."""
    try:
        uuid_mod.UUID(value)
    except ValueError:
        raise errors.APIError("Query parameter %s must be a UUID, got %s."
                              % (name, json.dumps(value)[:80])) from None


def _sort_key(key):
    """The column to sort by: a field hwdrivers does not store is null on every
    node, so sorting by it is sorting by id (Ironic's tie-breaker)."""
    if key in UNMODELED and not isinstance(UNMODELED[key], (dict, list)):
        return "id"
    return key


@blueprint.get("/v1/nodes")
def list_nodes():
    return _list(detail=utils.query_detail())


@blueprint.get("/v1/nodes/detail")
def list_nodes_detail():
    return _list(detail=True)


@blueprint.post("/v1/nodes")
def create_node():
    utils.check_query(())
    body = utils.json_body()
    microversions.check_body("node", body, microversions.current())
    for key in set(body) & set(UNMODELED):
        if body[key] is None or body[key] == UNMODELED[key]:
            del body[key]  # what every node shows already (Ironic's clients may send it)
    known_unmodeled = sorted(set(body) & set(UNMODELED))
    if known_unmodeled:
        raise errors.APIError(
            "Field(s) %s are not supported by hwdrivers; remove them from the "
            "request. Accepted fields: %s." % (", ".join(known_unmodeled),
                                              ", ".join(sorted(WRITABLE + ("uuid",)))))
    for field in CREATE_AS_NEW:
        if field in body and (body[field] is None
                              or utils.check_bool(body[field], field) is False):
            del body[field]  # what a new node has (Ironic's schema takes the field)
    for field in body:
        if field in READ_ONLY_HINTS and field != "uuid":
            hint = READ_ONLY_HINTS[field]
            raise errors.APIError("Field %s cannot be set when creating a node%s."
                                  % (field, "; %s" % hint if hint else ""))
    utils.check_keys(body, WRITABLE + ("uuid",), "node")
    if not body.get("driver"):
        raise exception.MissingParameterValue(
            "Field driver is required; list the choices with GET /v1/drivers.")
    masked = _masked_keys({"driver_info": body.get("driver_info")})
    if masked:
        raise errors.APIError(_mask_message(masked[0]))
    _bools(_null_dicts_as_empty(body))
    manager = utils.manager()
    node = _driver_as_field(lambda: manager.create_node(utils.context(), body))
    return utils.json_response(_view(node), status=201,
                               headers={"Location": utils.url("nodes/%s" % node.uuid)})


# -- one node ---------------------------------------------------------------------

@blueprint.get("/v1/nodes/<ident>")
def show_node(ident):
    utils.check_query(("fields",))
    fields = utils.query_fields(ALL_FIELDS, resource="node")
    return utils.json_response(_view(_get(ident), fields=fields))


@blueprint.patch("/v1/nodes/<ident>")
def update_node(ident):
    """JSON patch; ``?reset_interfaces=true`` (1.45) with a driver change.

    The node returned is the one saved with its lock released (no
    reservation), as Ironic answers; see ``ConductorManager.update_node``.
    """
    _check_patch_query()
    reset_interfaces = bool(utils.query_bool("reset_interfaces"))
    body = utils.json_body(expect=list)
    stored = []  # the node, read only if a replace of a key needs it

    def stored_field(field):
        if not stored:
            stored.append(_get(ident))
        return getattr(stored[0], field, None)

    _refuse_masks_below_keys(body)
    set_values, unset = patch_mod.translate(
        body, PATCH_WRITABLE, DICT_FIELDS, READ_ONLY_HINTS, ALL_FIELDS, unmodeled=UNMODELED,
        stored=stored_field, resource="node")
    maintenance = _patched_maintenance(set_values, unset)
    if "conductor_group" in set_values and set_values["conductor_group"] is None:
        # null is Ironic's "no group" too, as unset is (the manager's): the default.
        set_values["conductor_group"] = ""
    _null_dicts_as_empty(set_values)
    _keep_masked_secrets(ident, set_values)
    _bools(set_values)
    node = _driver_as_field(lambda: _update(ident, set_values, unset, reset_interfaces,
                                            maintenance))
    return utils.json_response(_view(node))


#: What a PATCH may set: the writable fields, and ``maintenance`` as Ironic's
#: PATCH_ALLOWED_FIELDS has it (its reason stays PUT .../maintenance's).
PATCH_WRITABLE = WRITABLE + ("maintenance",)


def _patched_maintenance(set_values, unset):
    """The maintenance a patch asks for (None: it does not touch it), taken out
    of ``set_values``/``unset``: ``update_node`` sets it in the same write as
    the other fields, as PUT/DELETE .../maintenance set it (entering keeps no
    reason; leaving clears reason and fault). ``remove`` is false, as Ironic's
    null maintenance."""
    if "maintenance" in unset:
        unset.remove("maintenance")
        return False
    if "maintenance" not in set_values:
        return None
    value = set_values.pop("maintenance")
    return False if value is None else utils.check_bool(value, "maintenance")


def _refuse_masks_below_keys(patch):
    """A mask (``******``) sent below a driver_info key is a 400.

    Secrets are driver_info's own keys; only there does the mask stand for
    a stored value (:func:`_keep_masked_secrets`). Deeper down it stands
    for nothing, and stored it would become a literal ``******``.
    """
    if not isinstance(patch, list):
        return
    for op in patch:
        path = op.get("path") if isinstance(op, dict) else None
        if (isinstance(path, str) and path.startswith("/driver_info/")
                and path.count("/") > 2 and op.get("value") == params.MASK):
            raise errors.APIError(
                "Field %s is %s, the mask shown in place of secrets, and secrets are "
                "only driver_info's own keys; send the real value."
                % (path.lstrip("/"), params.MASK))


def _masked_keys(set_values):
    """driver_info keys the patch sets to the mask (``******``) secrets are shown as."""
    keys = []
    for path, value in set_values.items():
        if path == "driver_info" and isinstance(value, dict):
            keys += [k for k, v in value.items() if v == params.MASK]
        elif path.startswith("driver_info/") and value == params.MASK:
            keys.append(path.partition("/")[2])
    return keys


def _keep_masked_secrets(ident, set_values):
    """A secret sent back as ``******`` keeps the value stored for it.

    Clients that read a node and write its driver_info back (a whole
    ``replace``, as openstacksdk's update_node or a config tool does) send
    the mask they were shown: stored, it would become every node's BMC
    password. Where the node has a secret under that key the mask stands
    for it; anywhere else (no secret there) it is a 400 naming the key.
    Only a patch carrying the mask pays the extra read.
    """
    keys = _masked_keys(set_values)
    if not keys:
        return
    node = _get(ident)
    stored = node.driver_info or {}
    shown = utils.manager().node_view(node).get("driver_info") or {}
    for key in keys:
        if shown.get(key) != params.MASK or stored.get(key) in (None, "", params.MASK):
            raise errors.APIError(_mask_message(key))
    for path, value in list(set_values.items()):
        if path == "driver_info" and isinstance(value, dict):
            set_values[path] = {k: (stored[k] if v == params.MASK else v)
                                for k, v in value.items()}
        elif path.startswith("driver_info/") and value == params.MASK:
            set_values[path] = stored[path.partition("/")[2]]


def _mask_message(key):
    return ("Field driver_info/%s is %s, the mask shown in place of secrets, and the node "
            "has no secret stored there to keep; send the real value." % (key, params.MASK))


#: Ironic's version that added ``reset_interfaces`` to PATCH /v1/nodes/<node>.
RESET_INTERFACES_VERSION = (1, 45)


def _check_patch_query():
    """PATCH takes ``reset_interfaces`` only, and only from API 1.45, as Ironic.

    Below 1.45 it is refused as any unknown query parameter is; the message
    names the version that accepts it, since a client that negotiated an
    older version would not otherwise know why.
    """
    version = flask.g.get("api_version") or microversions.DEFAULT_VERSION
    if version >= RESET_INTERFACES_VERSION:
        utils.check_query(("reset_interfaces",))
        return
    try:
        utils.check_query(())
    except errors.APIError as exc:
        if "reset_interfaces" not in flask.request.args:
            raise
        raise microversions.too_old("%s reset_interfaces" % exc, RESET_INTERFACES_VERSION,
                                    version, code=400) from None


def _update(ident, set_values, unset, reset_interfaces, maintenance=None):
    """``manager.update_node``; a new driver refusing interfaces says how to reset them.

    Interfaces the node set itself are kept on a driver change (the rest
    follow the new driver's defaults), so one the new driver cannot use is
    refused: the fix Ironic's clients offer is ``--reset-interfaces``.
    """
    try:
        return utils.manager().update_node(
            utils.context(), ident, set_values=set_values, unset=unset,
            reset_interfaces=reset_interfaces, maintenance=maintenance)
    except exception.InterfaceNotAllowed as exc:
        kept = [field for field in exc.kwargs.get("fields", ()) if field not in set_values]
        if reset_interfaces or "driver" not in set_values or not kept:
            raise  # the hint would not help: the patch itself sets every refused one
        raise exception.InterfaceNotAllowed(
            "%s. With reset_interfaces=true (API %s or later; baremetal node set "
            "--reset-interfaces) the interfaces this patch does not set go back to "
            "the new driver's defaults." % (exc, microversions.fmt(RESET_INTERFACES_VERSION)),
            errors=exc.errors) from None


#: Provision states a node may be deleted in (Ironic's rule: not while it is
#: deployed or in a transition the conductor is driving).
DELETABLE_STATES = ("enroll", "manageable", "available", "error", "clean failed",
                    "deploy failed", None)


#: What takes a node out of a state that refuses a delete, by the action the
#: state accepts (common/states.PROVISION_TRANSITIONS), in this order.
_DELETE_WAYS = (("undeploy", 'undeploy it (PUT .../states/provision {"target": "deleted"})'),
                ("abort", 'abort it (PUT .../states/provision {"target": "abort"})'))


def _before_delete(state):
    try:
        allowed = states_mod.allowed_actions(state)
    except ValueError:  # a state this version does not know
        allowed = []
    for action, advice in _DELETE_WAYS:
        if action in allowed:
            return advice
    return "wait until it leaves %s (the conductor is working on it)" % state


@blueprint.delete("/v1/nodes/<ident>")
def delete_node(ident):
    utils.check_query(())
    node = _get(ident)
    if node.provision_state not in DELETABLE_STATES and not node.maintenance:
        raise exception.InvalidState(
            reason="Node %s is in provision state %s and cannot be deleted; %s, or put "
                   "it in maintenance first." % (node.ident, node.provision_state,
                                                 _before_delete(node.provision_state)))
    utils.manager().delete_node(utils.context(), node.uuid)
    return utils.empty_response(204)


@blueprint.get("/v1/nodes/<ident>/ports")
def node_ports(ident):
    from hwdrivers.api import ports
    return ports.list_for_node(_get(ident))


#: A node's sub-collections Ironic has and hwdrivers does not store: read,
#: each is empty (its document shows ``traits: []`` and links ``portgroups``),
#: so inventory scripts and clients listing them get Ironic's empty answer.
#: Writing them stays a 404 that says hwdrivers does not implement them.
_EMPTY_NODE_COLLECTIONS = {"traits": ("traits", ()), "vifs": ("vifs", ()),
                           "portgroups": ("portgroups", ("detail", "fields", "limit",
                                                         "marker", "sort_key",
                                                         "sort_dir", "address"))}


@blueprint.get("/v1/nodes/<ident>/<any(traits, vifs, portgroups):collection>")
def node_empty_collection(ident, collection):
    key, query = _EMPTY_NODE_COLLECTIONS[collection]
    utils.check_query(query)
    _get(ident)  # 404 for an unknown node
    return utils.json_response({key: []})


@blueprint.get("/v1/nodes/<ident>/validate")
def validate_node(ident):
    utils.check_query(())
    results = utils.manager().validate_node(utils.context(), ident)
    doc = {kind: {"result": r["result"], "reason": r["reason"]}
           for kind, r in results.items()}
    for kind in _UNMODELED_INTERFACES:
        doc.setdefault(kind, {"result": None,
                              "reason": "not supported by hwdrivers"})
    return utils.json_response(doc)


# -- maintenance ----------------------------------------------------------------

def _set_maintenance(ident, on, reason=None):
    utils.manager().set_maintenance(utils.context(), ident, on, reason=reason)
    return utils.empty_response(202)


@blueprint.put("/v1/nodes/<ident>/maintenance")
def maintenance_on(ident):
    utils.check_query(("reason",))
    reason = flask.request.args.get("reason")
    if utils.request_body().strip():
        body = utils.json_body()
        utils.check_keys(body, ("reason",), "maintenance request")
        if "reason" in body and body["reason"] is not None:
            reason = utils.check_type(body["reason"], "reason", str, "a string")
    _get(ident)
    return _set_maintenance(ident, True, reason)


@blueprint.delete("/v1/nodes/<ident>/maintenance")
def maintenance_off(ident):
    utils.check_query(())
    _get(ident)
    return _set_maintenance(ident, False)


# -- vendor passthru ----------------------------------------------------------------

_PASSTHRU_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@blueprint.get("/v1/nodes/<ident>/vendor_passthru/methods")
def vendor_methods(ident):
    utils.check_query(())
    return utils.json_response(utils.manager().vendor_methods(utils.context(), ident))


@blueprint.route("/v1/nodes/<ident>/vendor_passthru", methods=_PASSTHRU_METHODS)
def vendor_passthru(ident):
    """``.../vendor_passthru?method=M``: openstacksdk's form."""
    return _vendor_call(ident, None)


@blueprint.route("/v1/nodes/<ident>/vendor_passthru/<method>", methods=_PASSTHRU_METHODS)
def vendor_passthru_in_path(ident, method):
    """``.../vendor_passthru/M``: python-ironicclient's form (Ironic takes both).

    ``methods`` stays the list (GET, routed to :func:`vendor_methods`
    first); any other HTTP method on it is refused, not taken for a call.
    """
    if method == "methods":
        return _methods_is_the_list()
    return _vendor_call(ident, method)


def _methods_is_the_list():
    """405 for ``.../vendor_passthru/methods`` other than GET, saying how to call one."""
    allowed = "GET, HEAD, OPTIONS"
    resp = errors.error_response(405, (
        "The method %s is not allowed for %s, which lists the node's vendor "
        "methods; allowed: %s. To call a vendor method named methods, use "
        ".../vendor_passthru?method=methods." % (flask.request.method,
                                                  flask.request.path, allowed)))
    resp.headers["Allow"] = allowed
    return resp


def _passthru_method(in_path):
    """The vendor method the path or ``?method=`` names (both: the same one)."""
    in_query = flask.request.args.get("method")
    if in_path and in_query and in_path != in_query:
        raise errors.APIError(
            "The vendor method is named twice, differently: %r in the path and %r in "
            "query parameter method; name it once, in either." % (in_path, in_query))
    method = in_path or in_query
    if not method:
        raise errors.APIError("Query parameter method is required (or the method in "
                              "the path: .../vendor_passthru/<method>); list the "
                              "methods with GET .../vendor_passthru/methods.")
    return method


def _vendor_call(ident, in_path):
    """Both forms' call: one set of checks, whichever way the method came."""
    utils.check_query(("method",))
    method = _passthru_method(in_path)
    args = {}
    if utils.request_body().strip():
        args = utils.json_body()
    is_async, result = utils.manager().vendor_passthru(
        utils.context(), ident, method, http_method=flask.request.method, args=args)
    return utils.json_response(result, status=202 if is_async else 200)
