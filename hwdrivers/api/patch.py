"""JSON patch (RFC 6902: add, replace, remove) -> the manager's ``set_values``/``unset`` form.

Ironic's clients send ``[{"op": "add"|"replace"|"remove", "path": ..., "value":
...}]`` with ``path`` a JSON pointer (RFC 6901): ``/field``, ``/field/key`` or,
inside the object fields (driver_info, instance_info, properties, extra),
any depth: ``/instance_info/image_properties/os``, ``/extra/tags/0`` (an
array index), ``/extra/tags/-`` (append), with ``~1`` for a ``/`` in a key
and ``~0`` for a ``~``.

We translate instead of applying the patch to a copy of the resource,
because the manager applies ``field/key`` paths under the node's lock: two
clients patching different keys of driver_info concurrently both win. A
deeper path is applied here to the value under ``/field/key`` (as stored,
or as earlier operations of the patch left it) and that key is written as
a whole; so patches of different keys still both win, and of the same key
the last one does. Every operation is checked before anything is applied,
so a patch with one bad operation changes nothing.
"""

import copy
import json

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import utils

OPS = ("add", "replace", "remove")

#: Where a path's key is missing, or is the wrong kind of value.
_ABSENT = object()
#: How deep a value under /field/key may nest: as deep as a create body
#: (``{"extra": {"key": value}}``) lets it. Paths below a key could
#: otherwise nest a stored value deeper with each request, until encoding
#: a listing that shows it fails.
_MAX_KEY_DEPTH = utils.MAX_BODY_DEPTH - 2


def _error(index, message):
    return errors.APIError("Patch operation %d: %s" % (index, message))


def escape(token):
    """``token`` as a JSON pointer token (RFC 6901: ``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def parse_path(index, path):
    """The decoded tokens of JSON pointer ``path``; a 400 naming it when it is not one."""
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise _error(index, "path %s must be a JSON pointer to a field: /field, "
                     "/field/key, /field/key/subkey..." % json.dumps(path))
    tokens = []
    for raw in path[1:].split("/"):
        if not raw:
            raise _error(index, "path %s has an empty key; remove the extra '/'" % path)
        rest = raw
        while "~" in rest:
            _, _, rest = rest.partition("~")
            if not rest or rest[0] not in "01":
                raise _error(index, "path %s has a '~' that is not an escape; write ~ in "
                             "a key as ~0 and / as ~1 (RFC 6901)" % path)
            rest = rest[1:]
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tokens


class _Doc:
    """The values under the patched objects' keys as the operations run in order.

    Earlier operations of the patch decide; where they do not,
    ``stored(field)`` (the object the resource has) does. It is read only
    when an operation needs a value it holds (a ``replace`` of a key, which
    must exist, or a path below a key), so a patch of plain adds costs no
    read.
    """

    def __init__(self, stored):
        self._stored = stored
        self._known = {}    # field -> {key: value}, once read or replaced whole
        self._pending = {}  # field -> {key: value or _ABSENT} on top of the stored object

    def whole(self, field, value):
        self._known[field] = dict(value) if isinstance(value, dict) else {}
        self._pending.pop(field, None)

    def set(self, field, key, value):
        """Record ``value`` (``_ABSENT``: removed) under ``field``'s ``key``."""
        if field in self._known:
            if value is _ABSENT:
                self._known[field].pop(key, None)
            else:
                self._known[field][key] = value
        else:
            self._pending.setdefault(field, {})[key] = value

    def get(self, field, key):
        """The value under ``field``'s ``key`` now, or ``_ABSENT``."""
        if field not in self._known:
            pending = self._pending.get(field, {})
            if key in pending:
                return pending[key]
            stored = self._stored(field) if self._stored is not None else None
            content = dict(stored) if isinstance(stored, dict) else {}
            for name, value in self._pending.pop(field, {}).items():
                if value is _ABSENT:
                    content.pop(name, None)
                else:
                    content[name] = value
            self._known[field] = content
        return self._known[field].get(key, _ABSENT)


def _kind_of(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return "a %s" % type(value).__name__


def _list_index(index, path, where, token, items, kind, insert=False):
    """Array index ``token`` (RFC 6901: digits, no leading zero) of an array of
    ``items``; with ``insert`` (an add's last token) ``items`` itself too."""
    append = " or - to append" if insert else ""
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        raise _error(index, "cannot %s %s: %s is an array, and %s is not an index of it; "
                     "use 0, 1, ...%s" % (kind, path, where, json.dumps(token), append))
    position = int(token)
    if position > items or (position == items and not insert):
        last = items - (not insert)
        raise _error(index, "cannot %s %s: %s is an array of %d item(s), so index %d is "
                     "out of range%s" % (kind, path, where, items, position,
                                         "; use 0 to %d%s" % (last, append) if last >= 0
                                         else ""))
    return position


def _apply_below(index, path, where, root, tokens, kind, value):
    """Operation ``kind`` at ``tokens`` below ``root`` (the value at ``where``,
    already a copy): RFC 6902 on objects and arrays. Returns the new root.

    Messages name paths and kinds of values, never values (driver_info holds
    secrets).
    """
    parent = root
    for token in tokens[:-1]:
        child_where = "%s/%s" % (where, escape(token))
        if isinstance(parent, dict):
            if token not in parent:
                raise _missing(index, path, child_where, kind)
            parent = parent[token]
        elif isinstance(parent, list):
            parent = parent[_list_index(index, path, where, token, len(parent), kind)]
        else:
            raise _not_container(index, path, where, parent, kind)
        where = child_where
    last = tokens[-1]
    if isinstance(parent, dict):
        if kind != "add" and last not in parent:
            raise _error(index, "cannot %s %s: %s has no key %s%s"
                         % (kind, path, where, json.dumps(last),
                            "; use add to create it" if kind == "replace" else ""))
        if kind == "remove":
            del parent[last]
        else:
            parent[last] = value
    elif isinstance(parent, list):
        if kind == "add" and last == "-":
            parent.append(value)
        else:
            position = _list_index(index, path, where, last, len(parent), kind,
                                   insert=kind == "add")
            if kind == "add":
                parent.insert(position, value)
            elif kind == "replace":
                parent[position] = value
            else:
                del parent[position]
    else:
        raise _not_container(index, path, where, parent, kind)
    return root


def _missing(index, path, where, kind):
    """The 400 for a path whose parent ``where`` does not exist (RFC 6902: an error)."""
    return _error(index, "cannot %s %s: %s does not exist%s" % (
        kind, path, where, "" if kind == "remove" else
        '; add it first, e.g. {"op": "add", "path": "%s", "value": {}}' % where))


def _not_container(index, path, where, value, kind):
    return _error(index, "cannot %s %s: %s is %s, not an object or an array; %s %s as a "
                  "whole instead" % (kind, path, where, _kind_of(value),
                                     "remove" if kind == "remove" else "replace", where))


def translate(patch, writable, dict_fields, read_only_hints, known, unmodeled=None,
              stored=None, resource=None):
    """Return ``(set_values, unset)`` for the manager.

    ``writable``: top-level fields that may be set; ``dict_fields``: those
    whose keys may be patched (``/extra/<key>/...``); ``read_only_hints``:
    field -> how to change it instead; ``known``: every field of the
    document (so an unknown field and a read-only one get different
    messages); ``unmodeled``: Ironic's fields hwdrivers does not store ->
    the value every document shows (removing one, or setting it to that
    value or null, changes nothing and is accepted, as ``baremetal node
    unset --owner`` sends); ``stored``: field -> the object the resource
    holds, read when a ``replace`` of one of its keys needs to know the key
    exists or a deeper path needs the value under a key (without it, the
    object is taken as empty and such a replace is not checked);
    ``resource``: the resource's name in microversions.FIELD_VERSIONS, so
    a field the request's API version does not have is a 406.
    """
    if not isinstance(patch, list):  # [] changes nothing and is a 200, as Ironic's schema
        raise errors.APIError("The body must be a JSON patch list, e.g. "
                              '[{"op": "replace", "path": "/name", "value": "n1"}].')
    set_values = {}
    unset = []
    doc = _Doc(stored)
    version = microversions.current() if resource is not None else None
    for index, op in enumerate(patch):
        if not isinstance(op, dict):
            raise _error(index, "each operation must be a JSON object")
        kind = op.get("op")
        if kind not in OPS:
            raise _error(index, "op %r is not supported; use one of: %s"
                         % (kind, ", ".join(OPS)))
        extra = sorted(set(op) - {"op", "path", "value"})
        if extra:
            raise _error(index, "unknown member(s) %s; use op, path, value"
                         % ", ".join(extra))
        path = op.get("path")
        parts = parse_path(index, path)
        field = parts[0]
        if version is not None:
            microversions.check_patch_op(resource, index, field, kind, version)
        if unmodeled and field in unmodeled:
            _check_unmodeled(index, op, field, len(parts) == 1, unmodeled[field])
            continue
        if field not in writable:
            if field in read_only_hints or field in known:
                hint = read_only_hints.get(field)
                raise _error(index, "'/%s' is a read-only field%s" % (
                    field, "; %s" % hint if hint else ""))
            raise _error(index, "'/%s' is not a field; patchable fields: %s"
                         % (field, ", ".join(sorted(writable))))
        if len(parts) > 1 and field not in dict_fields:
            raise _error(index, "'/%s' is not an object; use the path /%s"
                         % (field, field))
        if kind == "remove":
            # Ironic's patch schema lets any op carry a value; a remove ignores it
            # (scripts build every op alike, with "value": null for a remove).
            value = None
        elif "value" not in op:
            raise _error(index, "%s of %s needs a value" % (kind, path))
        else:
            value = op["value"]
        if len(parts) == 1:
            if field in dict_fields:
                doc.whole(field, {} if kind == "remove" else value)
            _apply(set_values, unset, field, field in dict_fields, value, kind == "remove")
            continue
        key = parts[1]
        target = "%s/%s" % (field, key)
        if len(parts) > 2:
            current = doc.get(field, key)
            where = "/%s/%s" % (field, escape(key))
            if current is _ABSENT:
                raise _missing(index, path, where, kind)
            value = _apply_below(index, path, where, copy.deepcopy(current), parts[2:],
                                 kind, copy.deepcopy(value))
            if utils.depth_exceeds(value, _MAX_KEY_DEPTH):
                raise _error(index, "cannot %s %s: %s would nest more than %d levels deep, "
                             "as no request body may (%d); keep the value flatter"
                             % (kind, path, where, _MAX_KEY_DEPTH, utils.MAX_BODY_DEPTH))
            doc.set(field, key, value)
            _apply(set_values, unset, target, False, value, False)
            continue
        if kind == "replace" and stored is not None and doc.get(field, key) is _ABSENT:
            raise _error(index, "cannot replace %s: %s has no key %s; use add to create it"
                         % (path, field, key))
        doc.set(field, key, _ABSENT if kind == "remove" else value)
        _apply(set_values, unset, target, False, value, kind == "remove")
    return set_values, unset


def _check_unmodeled(index, op, field, whole, shown):
    """Accept an operation that leaves unmodeled ``field`` as it is; refuse others."""
    if op["op"] == "remove":
        if whole:
            return
    elif whole and "value" in op and op["value"] in (None, shown):
        return
    raise _error(index, "hwdrivers does not store /%s (always %s), so it cannot be set; "
                 "leave it out of the patch" % (field, json.dumps(shown)))


def _apply(set_values, unset, target, whole_dict, value, remove):
    """One operation into ``set_values``/``unset``, as if the ops ran in order.

    The manager applies every ``set_values`` entry (in insertion order)
    before every ``unset`` one, so later operations must override earlier
    ones here: a whole object replaced or removed drops what earlier
    operations did to its keys; a key added and then removed stays in
    ``set_values`` too, so the manager adds it before removing it (and does
    not refuse to remove a key the stored node lacks); a removed object
    becomes ``{}``, so keys added after it land in the empty object.
    """
    if whole_dict:
        prefix = target + "/"
        for key in [k for k in set_values if k.startswith(prefix)]:
            del set_values[key]
        unset[:] = [k for k in unset if not k.startswith(prefix)]
    if target in unset:
        unset.remove(target)
    if remove and not whole_dict:
        unset.append(target)
        return
    set_values.pop(target, None)  # re-inserted last: the latest write wins
    set_values[target] = {} if remove else value
