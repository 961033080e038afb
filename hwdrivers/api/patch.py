"""JSON patch (RFC 6902 subset) -> the manager's ``set_values``/``unset`` form.

Ironic clients send ``[{"op": "add"|"replace"|"remove", "path": "/field" or
"/field/key", "value": ...}]``. We translate instead of applying the patch to
a copy, because the manager applies ``field/key`` paths under the node's
lock: two clients patching different keys of driver_info concurrently both
win. Every operation is checked before anything is applied, so a patch with
one bad operation changes nothing.
"""

from hwdrivers.api import errors

OPS = ("add", "replace", "remove")


def _error(index, message):
    return errors.APIError("Patch operation %d: %s" % (index, message))


def translate(patch, writable, dict_fields, read_only_hints, known):
    """Return ``(set_values, unset)`` for the manager.

    ``writable``: top-level fields that may be set; ``dict_fields``: those
    whose keys may be patched (``/extra/<key>``); ``read_only_hints``: field ->
    how to change it instead; ``known``: every field of the document (so an
    unknown field and a read-only one get different messages).
    """
    if not isinstance(patch, list) or not patch:
        raise errors.APIError("The body must be a non-empty JSON patch list, e.g. "
                              '[{"op": "replace", "path": "/name", "value": "n1"}].')
    set_values = {}
    unset = []
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
            set_values.pop(target, None)
            if target not in unset:
                unset.append(target)
        else:
            if "value" not in op:
                raise _error(index, "%s of %s needs a value" % (kind, path))
            if target in unset:
                unset.remove(target)
            set_values[target] = op["value"]
    return set_values, unset
