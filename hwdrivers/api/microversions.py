"""API microversions: negotiation and the headers every response carries.

Ironic's clients pick a version by reading ``X-OpenStack-Ironic-API-Minimum-
Version``/``Maximum-Version`` (on any response, errors included) and then send
``X-OpenStack-Ironic-API-Version`` or ``OpenStack-API-Version: baremetal X.Y``.
We serve one range. Inside it, as Ironic, a document shows only the fields
the requested version has: :data:`FIELD_VERSIONS` says which version added
each field of each resource we serve (node, port, node states, driver, BIOS
setting), and
this module alone applies it -- :func:`hidden_fields` (what a document
leaves out), :func:`check_fields` (``?fields=``/``sort_key`` naming one is a
406) and :func:`check_body`/:func:`check_patch_op` (a POST or PATCH setting
one is a 406). A request at MAX_VERSION hides nothing and checks nothing.
MAX_VERSION is openstacksdk's node ``_max_microversion`` (1.109), so the
SDK uses its newest code paths; python-ironicclient (latest 1.115)
negotiates down to it.
"""

import functools
import re

import flask

from hwdrivers.api import errors

MIN_VERSION = (1, 1)
MAX_VERSION = (1, 109)
#: The version a request without a version header gets (Ironic's rule).
DEFAULT_VERSION = MIN_VERSION

HEADER = "X-OpenStack-Ironic-API-Version"
MIN_HEADER = "X-OpenStack-Ironic-API-Minimum-Version"
MAX_HEADER = "X-OpenStack-Ironic-API-Maximum-Version"
GENERIC_HEADER = "OpenStack-API-Version"
SERVICE_TYPE = "baremetal"

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")


def fmt(version):
    return "%d.%d" % version


def _range_text():
    return "%s to %s" % (fmt(MIN_VERSION), fmt(MAX_VERSION))


def parse(text, header=HEADER):
    """``"1.31"`` or ``"latest"`` -> (1, 31); NotAcceptable otherwise, naming
    ``header`` (the one the text came from)."""
    text = (text or "").strip()
    if text.lower() == "latest":
        return MAX_VERSION
    match = _VERSION_RE.match(text)
    if not match:
        raise errors.NotAcceptable(
            "Invalid API version %r in the %s header; use MAJOR.MINOR (e.g. %s) "
            "or 'latest'. Supported versions: %s." % (text, header, fmt(MAX_VERSION),
                                                     _range_text()))
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise errors.NotAcceptable(
            "Version %s was requested but the minor version is not supported by "
            "this service. The supported version range is: [%s, %s]."
            % (fmt(version), fmt(MIN_VERSION), fmt(MAX_VERSION)))
    return version


def _from_generic(value):
    """The baremetal entry of ``OpenStack-API-Version`` (may list services; the
    last baremetal entry wins, as microversion-parse reads it for Ironic)."""
    found = None
    for part in value.split(","):
        words = part.strip().split(None, 1)
        if len(words) == 2 and words[0].lower() == SERVICE_TYPE:
            found = words[1]
    return found


def requested(headers):
    """The version a request asks for (DEFAULT_VERSION when it names none).

    As Ironic (microversion-parse): a baremetal entry of the standard
    ``OpenStack-API-Version`` header wins over ``X-OpenStack-Ironic-API-Version``,
    and of repeated legacy headers (folded into one, comma-separated) the last;
    an empty one asks for the default, as no header does.
    """
    generic = headers.get(GENERIC_HEADER)
    if generic:
        text = _from_generic(generic)
        if text is not None:
            return parse(text, GENERIC_HEADER)
    text = headers.get(HEADER)
    if not text:  # absent, or sent empty: Ironic's default either way
        return DEFAULT_VERSION
    if "," in text:
        text = text.rsplit(",", 1)[1]
        if not text.strip():
            return DEFAULT_VERSION
    return parse(text)


_MIN_TEXT = fmt(MIN_VERSION)
_MAX_TEXT = fmt(MAX_VERSION)
_VARY = "%s, %s" % (HEADER, GENERIC_HEADER)


@functools.lru_cache(maxsize=256)
def header_items(version=None):
    """Min/max (always) and the version served (when known), as sent: (name, value) pairs.

    Cached per version: a busy server answers a handful of versions
    thousands of times a second (the fast path adds these to its own list).
    """
    items = ((MIN_HEADER, _MIN_TEXT), (MAX_HEADER, _MAX_TEXT))
    if version is None:
        return items
    text = fmt(version)
    return items + ((HEADER, text), (GENERIC_HEADER, "%s %s" % (SERVICE_TYPE, text)),
                    ("Vary", _VARY))


def add_headers(response, version=None):
    """:func:`header_items` set on a werkzeug ``response`` (a Vary it has is kept)."""
    headers = response.headers
    for name, value in header_items(version):
        if name == "Vary" and headers.get("Vary"):
            value = "%s, %s" % (headers["Vary"], value)
        headers[name] = value
    return response


def version_document(base_url):
    """The ``version`` object of ``GET /`` and ``GET /v1``."""
    return {
        "id": "v1",
        "links": [{"href": "%s/v1/" % base_url, "rel": "self"}],
        "status": "CURRENT",
        "min_version": fmt(MIN_VERSION),
        "version": fmt(MAX_VERSION),
    }


# -- routes by version ------------------------------------------------------------

#: ``blueprint name -> the version that added its routes``. Below it Ironic
#: answers 404, as for a resource it does not have (its controllers'
#: ``validation.api_version(min_version=...)``), before looking at the
#: query; :func:`gate` does the same for a blueprint listed here. Routes of
#: blueprints not listed are in every version.
ROUTE_VERSIONS = {
    "conductors": (1, 49),  # ironic conductor.py: MINOR_49_CONDUCTORS
    "bios": (1, 40),  # node.py's _lookup: allow_bios_interface
    "history": (1, 78),  # node.py's _lookup: allow_node_history
}


def too_old(what, added, version, code=406, instead=""):
    """The error for ``what`` (a field, a target, a query parameter...) that API
    ``added`` introduced, in a request that asked for ``version``.

    One wording for every such refusal: the version to send, the header and
    the ``baremetal`` option that send it, and ``instead``, another way when
    there is one. A 406 as Ironic answers most of them; ``code`` otherwise.
    """
    needed = fmt(added)
    message = ("%s needs API version %s or later and this request asked for %s%s; send "
               "%s: %s (baremetal --os-baremetal-api-version %s)%s."
               % (what, needed, fmt(version),
                  " (the default without a version header)" if version == DEFAULT_VERSION
                  else "", HEADER, needed, needed, ", " + instead if instead else ""))
    if code == 406:
        return errors.NotAcceptable(message)
    return errors.APIError(message, code=code)


def require(what, added, code=406, instead=""):
    """:func:`too_old`'s error unless the request being served asked for ``added``
    or later."""
    version = current()
    if version < added:
        raise too_old(what, added, version, code, instead)


def check_route(blueprint_name, version):
    """404 when ``version`` predates the routes of ``blueprint_name``."""
    added = ROUTE_VERSIONS.get(blueprint_name)
    if added is None or version >= added:
        return
    raise errors.APIError(  # a 404: worded as one, not as too_old's refusal
        "The resource %s could not be found in API version %s, which this request asked "
        "for (%s is the default without a version header): it was added in %s; send "
        "%s: %s or later (baremetal --os-baremetal-api-version %s)."
        % (flask.request.path, fmt(version), fmt(DEFAULT_VERSION),
           fmt(added), HEADER, fmt(added), fmt(added)), code=404)


def gate(blueprint):
    """Make ``blueprint``'s routes answer :func:`check_route`'s 404 below their version."""
    blueprint.before_request(lambda: check_route(blueprint.name, current()))


# -- fields by version ------------------------------------------------------------

#: ``(resource, field) -> the version that added the field``, as Ironic has
#: them: node fields from ironic/api/controllers/v1/utils.py VERSIONED_FIELDS
#: (its V31_FIELDS: the interfaces of 1.31) and the sub-resource links
#: node.py's node_sanitize drops (states 1.14, portgroups 1.24, volume 1.32);
#: port fields from port.py's hide_fields_in_newer_versions; the states
#: document's RAID fields from node_states_convert; driver fields from
#: driver.py (type and interfaces with dynamic drivers, 1.30; the newer
#: kinds later). Fields not listed are in every version.
FIELD_VERSIONS = {
    ("node", "driver_internal_info"): (1, 3),
    ("node", "name"): (1, 5),
    ("node", "inspection_started_at"): (1, 6),
    ("node", "inspection_finished_at"): (1, 6),
    ("node", "clean_step"): (1, 7),
    ("node", "raid_config"): (1, 12),
    ("node", "target_raid_config"): (1, 12),
    ("node", "states"): (1, 14),
    ("node", "network_interface"): (1, 20),
    ("node", "resource_class"): (1, 21),
    ("node", "portgroups"): (1, 24),
    ("node", "boot_interface"): (1, 31),
    ("node", "console_interface"): (1, 31),
    ("node", "deploy_interface"): (1, 31),
    ("node", "inspect_interface"): (1, 31),
    ("node", "management_interface"): (1, 31),
    ("node", "power_interface"): (1, 31),
    ("node", "raid_interface"): (1, 31),
    ("node", "vendor_interface"): (1, 31),
    ("node", "volume"): (1, 32),
    ("node", "storage_interface"): (1, 33),
    ("node", "traits"): (1, 37),
    ("node", "rescue_interface"): (1, 38),
    ("node", "bios_interface"): (1, 40),
    ("node", "fault"): (1, 42),
    ("node", "deploy_step"): (1, 44),
    ("node", "conductor_group"): (1, 46),
    ("node", "automated_clean"): (1, 47),
    ("node", "protected"): (1, 48),
    ("node", "protected_reason"): (1, 48),
    ("node", "conductor"): (1, 49),
    ("node", "owner"): (1, 50),
    ("node", "description"): (1, 51),
    ("node", "allocation_uuid"): (1, 52),
    ("node", "retired"): (1, 61),
    ("node", "retired_reason"): (1, 61),
    ("node", "lessee"): (1, 65),
    ("node", "network_data"): (1, 66),
    ("node", "boot_mode"): (1, 75),
    ("node", "secure_boot"): (1, 75),
    ("node", "shard"): (1, 82),
    ("node", "parent_node"): (1, 83),
    ("node", "firmware_interface"): (1, 86),
    ("node", "service_step"): (1, 87),
    ("node", "disable_power_off"): (1, 95),
    ("node", "instance_name"): (1, 104),
    ("node", "health"): (1, 109),
    ("port", "internal_info"): (1, 18),
    ("port", "pxe_enabled"): (1, 19),
    ("port", "local_link_connection"): (1, 19),
    ("port", "portgroup_uuid"): (1, 24),
    ("port", "physical_network"): (1, 34),
    ("port", "is_smartnic"): (1, 53),
    ("port", "name"): (1, 88),
    ("port", "description"): (1, 97),
    ("port", "vendor"): (1, 100),
    ("port", "category"): (1, 101),
    ("node_states", "raid_config"): (1, 12),
    ("node_states", "target_raid_config"): (1, 12),
    ("node_states", "boot_mode"): (1, 75),
    ("node_states", "secure_boot"): (1, 75),
    ("driver", "properties"): (1, 14),
    ("driver", "type"): (1, 30),
}
for _kind, _added in (("boot", 30), ("console", 30), ("deploy", 30), ("inspect", 30),
                      ("management", 30), ("network", 30), ("power", 30), ("raid", 30),
                      ("vendor", 30), ("storage", 33), ("rescue", 38), ("bios", 40),
                      ("firmware", 86)):
    FIELD_VERSIONS[("driver", "default_%s_interface" % _kind)] = (1, _added)
    FIELD_VERSIONS[("driver", "enabled_%s_interfaces" % _kind)] = (1, _added)
del _kind, _added
for _field in ("attribute_type", "allowable_values", "lower_bound", "upper_bound",
               "min_length", "max_length", "read_only", "reset_required", "unique"):
    FIELD_VERSIONS[("bios", _field)] = (1, 74)  # ironic bios.py: the registry, 1.74
del _field
assert max(FIELD_VERSIONS.values()) <= MAX_VERSION  # the newest version hides nothing

#: Provision states an older version names otherwise: ``state -> (the
#: version that introduced the name, the name before it)``, as Ironic's
#: update_state_in_older_versions (node and node states documents).
RENAMED_STATES = {"available": ((1, 2), None), "inspect wait": ((1, 39), "inspecting")}

#: What a resource is called in messages.
_NOUNS = {"node": "a node", "port": "a port", "node_states": "a node's states",
          "driver": "a driver", "bios": "a BIOS setting"}
#: Resources whose PATCH may not remove a field newer than the request's
#: version either (Ironic's port PATCH refuses it; its node PATCH lets
#: a remove through).
_REMOVE_GATED = frozenset({"port"})
#: Values that leave a field unset in a create body (Ironic's
#: reject_fields_in_newer_versions): null, or "" for conductor_group.
_UNSET_VALUES = {("node", "conductor_group"): (None, "")}
#: Ironic's version that added ``?fields=`` (1.8).
FIELDS_SELECTOR_VERSION = (1, 8)


#: Provision targets newer than API 1.1 -> the version that added them, as
#: Ironic's MIN_VERB_VERSIONS applies them (``check_allow_management_verbs``,
#: a 406 below). Ironic keys 1.73's undeploy under its verb ("delete"), which
#: no target is, so ``undeploy`` (like ``active``/``deleted``) is taken at
#: every version there, and here.
ACTION_VERSIONS = {"manage": (1, 4), "provide": (1, 4), "inspect": (1, 6),
                   "abort": (1, 13), "clean": (1, 15), "deploy": (1, 73)}


def check_action(target, version):
    """406 when provision ``target`` is newer than ``version`` (:data:`ACTION_VERSIONS`)."""
    added = ACTION_VERSIONS.get(target)
    if added is not None and version < added:
        raise too_old("Provision target %s" % target, added, version, instead=(
            "or send target active, which every version takes" if target == "deploy"
            else ""))


def current():
    """The version the Flask request being served asked for."""
    return flask.g.get("api_version") or DEFAULT_VERSION


@functools.lru_cache(maxsize=1024)
def hidden_fields(resource, version):
    """Fields of ``resource`` newer than ``version``: a frozenset, empty at MAX_VERSION.

    Cached: (resource, version) pairs are few (five resources, 109 versions).
    """
    if version >= MAX_VERSION:
        return frozenset()
    return frozenset(field for (kind, field), added in FIELD_VERSIONS.items()
                     if kind == resource and added > version)


def hide(resource, doc, version):
    """``doc`` without the fields ``version`` does not have (the same dict).

    At MAX_VERSION (what clients negotiate) a comparison is all it costs:
    the fast path's ``GET .../states`` calls it on every poll.
    """
    if version >= MAX_VERSION:
        return doc
    for field in hidden_fields(resource, version):
        doc.pop(field, None)
    if doc.get("provision_state") in RENAMED_STATES:
        doc["provision_state"] = state_name(doc["provision_state"], version)
    return doc


def state_name(state, version):
    """``state`` as API ``version`` names it (:data:`RENAMED_STATES`)."""
    renamed = RENAMED_STATES.get(state)
    if renamed is not None and version < renamed[0]:
        return renamed[1]
    return state


def _too_new(resource, fields, version, where):
    """The 406 for ``fields`` of ``resource`` that ``version`` does not have."""
    added = {f: FIELD_VERSIONS[(resource, f)] for f in fields}
    needed = fmt(max(added.values()))
    return errors.NotAcceptable(
        "%s %s of %s %s not in API version %s, which this request asked for (%s); "
        "ask for %s or later: send %s: %s (baremetal --os-baremetal-api-version %s)%s."
        % ("Fields" if len(fields) > 1 else "Field",
           ", ".join(sorted(fields)), _NOUNS.get(resource, resource),
           "are" if len(fields) > 1 else "is", fmt(version),
           "; ".join("%s was added in %s" % (f, fmt(v)) for f, v in sorted(added.items())),
           needed, HEADER, needed, needed, where))


def check_fields(resource, fields, version, param="fields"):
    """406 when query parameter ``param`` names a field ``version`` does not have.

    ``fields`` is the list asked for (None: the parameter is absent). As
    Ironic: ``?fields=`` itself needs 1.8 (also a 406).
    """
    if fields is None:
        return
    if param == "fields" and version < FIELDS_SELECTOR_VERSION:
        raise too_old("Query parameter fields", FIELDS_SELECTOR_VERSION, version,
                      instead="or leave fields out for the whole document")
    hidden = hidden_fields(resource, version)
    bad = [f for f in fields if f in hidden]
    if bad:
        raise _too_new(resource, bad, version, ", or leave them out of query parameter "
                       "%s" % param)


def check_body(resource, body, version):
    """406 when a create body sets a field ``version`` does not have (null: unset)."""
    hidden = hidden_fields(resource, version)
    if not hidden:
        return
    bad = [f for f in body if f in hidden
           and body[f] not in _UNSET_VALUES.get((resource, f), (None,))]
    if bad:
        raise _too_new(resource, bad, version, ", or leave them out of the request")


def check_patch_op(resource, index, field, op, version):
    """406 when PATCH operation ``index`` (``op`` on ``/field...``) touches a field
    ``version`` does not have (a remove only for :data:`_REMOVE_GATED` resources)."""
    if field not in hidden_fields(resource, version):
        return
    if op == "remove" and resource not in _REMOVE_GATED:
        return
    raise _too_new(resource, [field], version,
                   ", or leave patch operation %d out" % index)
