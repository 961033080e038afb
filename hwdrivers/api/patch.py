"""JSON patch (RFC 6902 subset) -> the manager's ``set_values``/``unset`` form.

Ironic clients send ``[{"op": "add"|"replace"|"remove", "path": "/field" or
"/field/key", "value": ...}]``. We translate instead of applying the patch to
a copy, because the manager applies ``field/key`` paths under the node's
lock: two clients patching different keys of driver_info concurrently both
win. Every operation is checked before anything is applied, so a patch with
one bad operation changes nothing.
"""

import json

from hwdrivers.api import errors
from hwdrivers.api import microversions

OPS = ("add", "replace", "remove")


def _error(index, message):
    return errors.APIError("Patch operation %d: %s" % (index, message))


class _Keys:
    """Which keys of the patched objects exist as the operations run in order.

    A ``replace`` of a key needs it to exist (RFC 6902, Ironic): earlier
    operations of the patch decide, and where they do not, ``stored(field)``
    (the object the resource has) does; it is read only then, so patches
    without such a replace cost no read.
    """

    def __init__(self, stored):
        self._stored = stored
        self._known = {}    # field -> set of keys, once decided
        self._pending = {}  # field -> [(key, present)] on top of the stored object

    def whole(self, field, value):
        self._known[field] = set(value) if isinstance(value, dict) else set()
        self._pending.pop(field, None)

    def key(self, field, key, present):
        if field in self._known:
            (self._known[field].add if present else self._known[field].discard)(key)
        else:
            self._pending.setdefault(field, []).append((key, present))

    def has(self, field, key):
        if field not in self._known:
            keys = set(self._stored(field) or ())
            for name, present in self._pending.pop(field, ()):
                (keys.add if present else keys.discard)(name)
            self._known[field] = keys
        return key in self._known[field]


def translate(patch, writable, dict_fields, read_only_hints, known, unmodeled=None,
              stored=None, resource=None):
    """Return ``(set_values, unset)`` for the manager.

    ``writable``: top-level fields that may be set; ``dict_fields``: those
    whose keys may be patched (``/extra/<key>``); ``read_only_hints``: field ->
    how to change it instead; ``known``: every field of the document (so an
    unknown field and a read-only one get different messages); ``unmodeled``:
    Ironic's fields hwdrivers does not store -> the value every document
    shows (removing one, or setting it to that value or null, changes
    nothing and is accepted, as ``baremetal node unset --owner`` sends);
    ``stored``: field -> the object the resource holds, read when a
    ``replace`` of one of its keys needs to know the key exists (without
    it, such a replace is not checked); ``resource``: the resource's name in
    microversions.FIELD_VERSIONS, so a field the request's API version does
    not have is a 406.
    """
    if not isinstance(patch, list) or not patch:
        raise errors.APIError("The body must be a non-empty JSON patch list, e.g. "
                              '[{"op": "replace", "path": "/name", "value": "n1"}].')
    set_values = {}
    unset = []
    keys = _Keys(stored) if stored is not None else None
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
        if not isinstance(path, str) or not path.startswith("/") or path == "/":
            raise _error(index, "path %r must look like /field or /field/key" % (path,))
        parts = path[1:].split("/")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in parts]
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
        if len(parts) > 2:
            raise _error(index, "path %s is too deep; replace /%s/%s as a whole"
                         % (path, field, parts[1]))
        if len(parts) == 2:
            if field not in dict_fields:
                raise _error(index, "'/%s' is not an object; use the path /%s"
                             % (field, field))
            if not parts[1]:
                raise _error(index, "path %s has an empty key" % path)
        target = "/".join(parts)
        if kind == "remove":
            if "value" in op:
                raise _error(index, "remove takes no value")
        elif "value" not in op:
            raise _error(index, "%s of %s needs a value" % (kind, path))
        if keys is not None and field in dict_fields:
            if len(parts) == 1:
                keys.whole(field, {} if kind == "remove" else op.get("value"))
            else:
                if kind == "replace" and not keys.has(field, parts[1]):
                    raise _error(index, "cannot replace %s: %s has no key %s; use add "
                                 "to create it" % (path, field, parts[1]))
                keys.key(field, parts[1], kind != "remove")
        _apply(set_values, unset, target, len(parts) == 1 and field in dict_fields,
               op.get("value"), kind == "remove")
    return set_values, unset


def _check_unmodeled(index, op, field, whole, shown):
    """Accept an operation that leaves unmodeled ``field`` as it is; refuse others."""
    if op["op"] == "remove":
        if "value" in op:
            raise _error(index, "remove takes no value")
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
