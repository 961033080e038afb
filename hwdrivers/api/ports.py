"""/v1/ports: a node's network ports, identified by MAC address."""

import contextlib

import flask

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import patch as patch_mod
from hwdrivers.api import utils
from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.common import states
from hwdrivers.db import api as db_api

blueprint = flask.Blueprint("ports", __name__)

#: Ironic port fields hwdrivers does not model, with the value we show.
UNMODELED = {
    "local_link_connection": {}, "internal_info": {}, "physical_network": None,
    "portgroup_uuid": None, "is_smartnic": False, "name": None, "description": None,
    "vendor": None, "category": None,
}
ALL_FIELDS = frozenset(("uuid", "address", "node_uuid", "extra", "pxe_enabled",
                        "created_at", "updated_at", "links") + tuple(UNMODELED))
SUMMARY_FIELDS = ("uuid", "address", "links")
CREATE_FIELDS = ("address", "node_uuid", "node_ident", "extra", "pxe_enabled", "uuid")
#: Ironic's API 1.94 lets a create name the node by ``node_ident`` (UUID or name).
NODE_IDENT_VERSION = (1, 94)
WRITABLE = ("address", "node_uuid", "extra", "pxe_enabled")
READ_ONLY_HINTS = {"uuid": "a port's UUID never changes", "created_at": None,
                   "updated_at": None, "links": None}
#: Ironic's port sort keys whose fields hwdrivers does not store: the same on
#: every port, so sorting by one is sorting by id (Ironic's tie-breaker).
UNMODELED_SORT_KEYS = frozenset(("physical_network", "is_smartnic", "name", "description",
                                 "vendor", "category"))
PORT_QUERY = ("node", "node_uuid", "address", "limit", "marker", "fields", "detail",
              "sort_key", "sort_dir", "portgroup", "shard", "conductor_groups")

_P = states.ProvisionState
#: Ironic's conductor (update_port) refuses, with a 409, to change these port
#: fields while the node the port ends up on is in any other provision state,
#: unless that node is in maintenance: a deployed node's NICs are its
#: instance's (its MAC is in the tenant's network), and ``pxe_enabled`` picks
#: the NICs the node network-boots from, which deploying and cleaning rely on.
CHANGEABLE_IN = {
    "address": (frozenset(_P) - {_P.ACTIVE}, "any state but active"),
    "pxe_enabled": (frozenset({_P.ENROLL, _P.MANAGEABLE, _P.INSPECTING, _P.INSPECTWAIT}),
                    "enroll, manageable, inspecting or inspect wait"),
}
#: From this API version Ironic refuses any change to a port of an inspecting
#: node (inspection is rewriting its ports).
INSPECTING_FROZEN_VERSION = (1, 39)


class _NodeUUIDs:
    """node id -> UUID, looked up once per request."""

    def __init__(self):
        self._cache = {}

    def __call__(self, node_id):
        if node_id not in self._cache:
            self._cache[node_id] = utils.manager().get_node(utils.context(), node_id).uuid
        return self._cache[node_id]


def port_doc(port, node_uuid, fields=None, detail=True, hidden=None):
    """Ironic's port document; ``hidden``: microversions.hidden_fields (the
    request's, when not given)."""
    doc = dict(UNMODELED)
    doc.update({
        "uuid": port["uuid"],
        "address": port["address"],
        "node_uuid": node_uuid,
        "extra": port.get("extra") or {},
        "pxe_enabled": port.get("pxe_enabled"),
        "created_at": utils.isotime(port.get("created_at")),
        "updated_at": utils.isotime(port.get("updated_at")),
        "links": utils.links("ports", port["uuid"]),
    })
    if fields is None and not detail:
        fields = SUMMARY_FIELDS
    if hidden is None:
        hidden = microversions.hidden_fields("port", microversions.current())
    return utils.select_fields(doc, fields, hidden)


def _node_id(ident, field):
    try:
        return utils.manager().get_node(utils.context(), ident).id
    except exception.NodeNotFound:
        raise errors.APIError("Field %s: node %s does not exist." % (field, ident)) from None


def _marker_port(marker):
    """404 when no port has UUID ``marker`` (Ironic's answer to such a marker)."""
    try:
        _get(marker)
    except exception.PortNotFound:
        raise exception.PortNotFound(
            "Port %s could not be found; it is this listing's marker (the last port of the "
            "previous page), deleted since? List again without marker." % marker) from None


def _render_list(ports, detail, fields, limit, resource):
    uuids = _NodeUUIDs()
    hidden = microversions.hidden_fields("port", microversions.current())
    result = {"ports": [port_doc(p, uuids(p["node_id"]), fields=fields, detail=detail,
                                 hidden=hidden)
                        for p in ports]}
    next_url = utils.next_link(resource, ports, limit)
    if next_url:
        result["next"] = next_url
    return utils.json_response(result)


def _pxe_enabled(value):
    """``pxe_enabled`` as stored: always a real boolean.

    As Ironic: true/false, or the strings its clients send ("false" from
    ``baremetal port create --pxe-enabled false``, "True"/"False" from
    ``port set --pxe-enabled/--pxe-disabled``); null is the default, true,
    on create and on PATCH alike (as removing the field is).
    """
    if value is None:
        return True
    return utils.check_bool(value, "pxe_enabled")


def _list(detail, node_id=None, resource="ports"):
    """A page of ports; ``node_id``: of that node only, the node of the URL
    (/v1/nodes/<node>/ports), which a ``node``/``node_uuid`` filter does not
    override (Ironic's parent node wins)."""
    utils.check_query(PORT_QUERY)
    nested = node_id is not None
    args = flask.request.args
    if detail and args.get("fields"):
        raise errors.APIError("Query parameter fields cannot be combined with detail.")
    fields = utils.query_fields(ALL_FIELDS, resource="port")
    if args.get("sort_key"):
        microversions.check_fields("port", [args["sort_key"]], microversions.current(),
                                   param="sort_key")
    limit = utils.query_limit()
    for key in ("node", "node_uuid"):
        if args.get(key) and not nested:  # no such node: Ironic's 404, as for the URL's
            node_id = utils.manager().get_node(utils.context(), args[key]).id
    groups = _conductor_groups(args)
    if args.get("portgroup") or args.get("shard"):
        ports = []  # hwdrivers has no port groups, and no node is in a shard
    elif args.get("address"):
        try:
            port = utils.manager().get_port(utils.context(), _query_mac(args["address"]))
        except exception.PortNotFound:
            ports = []
        else:
            ports = [port] if node_id in (None, port["node_id"]) else []
            if ports and groups is not None and utils.manager().get_node(
                    utils.context(), port["node_id"]).conductor_group not in groups:
                ports = []
    else:
        ports = utils.listed_after_marker(
            lambda: utils.manager().list_ports(utils.context(), node_id=node_id, limit=limit,
                                               marker=args.get("marker"),
                                               sort_key=_sort_key(args),
                                               sort_dir=args.get("sort_dir", "asc"),
                                               conductor_groups=groups),
            args.get("marker"), "port", _marker_port)
    return _render_list(ports, detail, fields, limit, resource)


def _sort_key(args):
    key = args.get("sort_key", "id")
    return "id" if key in UNMODELED_SORT_KEYS else key


def _mac(value, where="Field address"):
    """``value`` as a stored MAC (lower case), or a 400 naming ``where`` and the
    form, quoting at most 80 characters of what was sent."""
    try:
        return db_api.normalize_mac(value)
    except exception.InvalidParameterValue:
        raise errors.APIError("%s must be a MAC address of the form aa:bb:cc:dd:ee:ff, "
                              "got %s." % (where, log_text.cut(repr(value), 80))) from None


def _query_mac(value):
    """The ``address`` filter as a stored MAC, or a 400 as Ironic's.

    Only a MAC: the port lookup behind it also takes a UUID, and a filter
    that matched a port by UUID would answer a question nobody asked.
    """
    return _mac(value, "Query parameter address")


def _conductor_groups(args):
    """``conductor_groups`` (API 1.99): the groups whose nodes' ports are listed,
    in lower case as groups are stored; comma-separated or repeated, as
    openstacksdk's ``ports(conductor_groups=[...])`` sends them. None: no filter."""
    groups = {group.strip().lower() for value in args.getlist("conductor_groups")
              for group in value.split(",")} - {""}
    return groups or None


def list_for_node(node):
    """GET /v1/nodes/<node>/ports."""
    return _list(utils.query_detail(), node_id=node.id,
                 resource="nodes/%s/ports" % node.uuid)


@blueprint.get("/v1/nodes/<ident>/ports/detail")
def list_node_ports_detail(ident):
    """GET /v1/nodes/<node>/ports/detail: python-ironicclient's
    ``node.list_ports(node, detail=True)`` asks this path, as Ironic serves it."""
    node = utils.manager().get_node(utils.context(), ident)
    return _list(True, node_id=node.id, resource="nodes/%s/ports/detail" % node.uuid)


@blueprint.get("/v1/ports")
def list_ports():
    return _list(utils.query_detail())


@blueprint.get("/v1/ports/detail")
def list_ports_detail():
    return _list(True, resource="ports/detail")


@blueprint.post("/v1/ports")
def create_port():
    utils.check_query(())
    body = utils.json_body()
    microversions.check_body("port", body, microversions.current())
    unmodeled = sorted(k for k in body if k in UNMODELED
                       and body[k] is not None and body[k] != UNMODELED[k])
    if unmodeled:
        raise errors.APIError("Field(s) %s are not supported by hwdrivers; accepted "
                              "fields: %s." % (", ".join(unmodeled),
                                               ", ".join(CREATE_FIELDS)))
    body = {k: v for k, v in body.items() if k not in UNMODELED}
    utils.check_keys(body, CREATE_FIELDS, "port")
    node_field = _node_field(body)
    node_uuid = utils.require(body, node_field, str, "port", "a node UUID or name")
    body["address"] = _mac(utils.require(body, "address", str, "port",
                                         "a MAC address (aa:bb:cc:dd:ee:ff)"))
    if body.get("extra", {}) is None:
        body["extra"] = {}  # Ironic's schema takes null: no extra
    if "extra" in body:
        utils.check_type(body["extra"], "extra", dict, "an object")
    if "pxe_enabled" in body:
        body["pxe_enabled"] = _pxe_enabled(body["pxe_enabled"])
    if body.get("uuid") is not None:  # null, as absent: a generated UUID (Ironic's schema)
        utils.check_type(body["uuid"], "uuid", str, "a UUID")
    node_id = _node_id(node_uuid, node_field)
    values = {k: v for k, v in body.items() if k not in ("node_uuid", "node_ident")}
    values["node_id"] = node_id
    with _duplicate_mac_named(values["address"]):
        port = utils.manager().create_port(utils.context(), values)
    return utils.json_response(port_doc(port, _NodeUUIDs()(node_id)), status=201,
                               headers={"Location": utils.url("ports/%s" % port["uuid"])})


@contextlib.contextmanager
def _duplicate_mac_named(address):
    """A 409 for a MAC another port has says which port and node have it, and
    what to do (the database's answer names neither). Not for a taken UUID."""
    try:
        yield
    except exception.PortAlreadyExists as error:
        try:
            holder = _get(address) if address else None
        except exception.PortNotFound:
            holder = None  # gone meanwhile, or the UUID was the conflict
        if holder is None:
            raise
        raise exception.PortAlreadyExists(
            "A port with MAC address %s already exists: port %s of node %s. A MAC "
            "belongs to one port; delete that port or change its address first."
            % (address, holder["uuid"], _NodeUUIDs()(holder["node_id"])),
            address=address) from error


def _node_field(body):
    """Which field of a create body names the node: ``node_uuid`` or, from API
    1.94 as in Ironic, ``node_ident``; exactly one of them (Ironic's schema)."""
    named = [f for f in ("node_uuid", "node_ident") if f in body]
    if len(named) > 1:
        raise errors.APIError("Fields node_uuid and node_ident both name the port's node; "
                              "send only one of them.")
    if named == ["node_ident"]:
        microversions.require("Field node_ident of a port", NODE_IDENT_VERSION,
                              instead="or name the node in node_uuid")
    return named[0] if named else "node_uuid"


def _get(ident):
    return utils.manager().get_port(utils.context(), ident)


@blueprint.get("/v1/ports/<ident>")
def show_port(ident):
    utils.check_query(("fields",))
    fields = utils.query_fields(ALL_FIELDS, resource="port")
    port = _get(ident)
    return utils.json_response(port_doc(port, _NodeUUIDs()(port["node_id"]), fields=fields))


@blueprint.patch("/v1/ports/<ident>")
def update_port(ident):
    utils.check_query(())
    body = utils.json_body(expect=list)
    port = _get(ident)
    set_values, unset = patch_mod.translate(body, WRITABLE, ("extra",), READ_ONLY_HINTS,
                                            ALL_FIELDS, unmodeled=UNMODELED,
                                            stored=port.get, resource="port")
    values = {}
    extra = dict(port.get("extra") or {})
    for path, value in set_values.items():
        field, _, key = path.partition("/")
        if key:
            extra[key] = value
            values["extra"] = extra
        elif field == "node_uuid":
            utils.check_type(value, "node_uuid", str, "a node UUID or name")
            values["node_id"] = _node_id(value, "node_uuid")
        elif field == "extra":  # null is no extra, as Ironic stores it
            extra = {} if value is None else dict(
                utils.check_type(value, "extra", dict, "an object"))
            values["extra"] = extra
        elif field == "pxe_enabled":
            values["pxe_enabled"] = _pxe_enabled(value)
        else:
            values[field] = _mac(utils.check_type(value, field, str, "a MAC address"))
    for path in unset:
        field, _, key = path.partition("/")
        if key:
            if key not in extra:
                raise errors.APIError("Port %s: extra has no key %s to remove."
                                      % (port["uuid"], key))
            del extra[key]
            values["extra"] = extra
        elif field == "extra":
            extra = {}
            values["extra"] = extra
        elif field == "pxe_enabled":
            values["pxe_enabled"] = True
        else:
            raise errors.APIError("Field %s of a port cannot be removed." % field)
    if values:
        with _duplicate_mac_named(values.get("address")):
            try:
                port = utils.manager().update_port(
                    utils.context(), port["uuid"], values,
                    check=lambda current, node: _check_node_state(current, node, values))
            except exception.NodeNotFound:
                if "node_id" not in values:
                    raise
                # the move's target, deleted while the move waited for its lock:
                # as if it had been missing from the start (named as the client did)
                raise errors.APIError("Field node_uuid: node %s does not exist."
                                      % set_values["node_uuid"]) from None
    return utils.json_response(port_doc(port, _NodeUUIDs()(port["node_id"])))


def _check_node_state(port, node, values):
    """409 when the state of ``node``, the (locked) node the port ends up on,
    forbids ``values`` (:data:`CHANGEABLE_IN`, Ironic's rules); naming the
    field and the way out."""
    state = node.provision_state
    if (state == _P.INSPECTING
            and microversions.current() >= INSPECTING_FROZEN_VERSION):
        raise exception.InvalidState(
            reason="Cannot update port %s: its node %s is inspecting, which updates its "
                   "ports; retry when the inspection has finished."
                   % (port["uuid"], node.uuid))
    if node.maintenance:
        return
    for field, (allowed, allowed_text) in CHANGEABLE_IN.items():
        if field in values and values[field] != port.get(field) and state not in allowed:
            raise exception.InvalidState(
                reason="Field %s of port %s cannot change while its node %s is in "
                       "provision state %s; it can in %s, or with the node in "
                       "maintenance (baremetal node maintenance set %s)."
                       % (field, port["uuid"], node.uuid, state, allowed_text, node.uuid))


@blueprint.delete("/v1/ports/<ident>")
def delete_port(ident):
    utils.check_query(())
    port = _get(ident)
    utils.manager().delete_port(utils.context(), port["uuid"])
    return utils.empty_response(204)


@blueprint.get("/v1/portgroups")
@blueprint.get("/v1/portgroups/detail")
def list_portgroups():
    """Port groups: hwdrivers has none (``baremetal port group list`` is empty)."""
    utils.check_query(("node", "address", "detail", "fields", "limit", "marker",
                       "sort_key", "sort_dir", "project", "conductor_groups"))
    return utils.json_response({"portgroups": []})
