"""BIOS settings checked against an attribute registry, before anything is sent.

A registry maps attribute name -> its entry, in the fields Ironic's BIOS
API shows (``attribute_type``: Enumeration, String, Integer, Boolean,
Password; ``allowable_values``; ``read_only``; ``lower_bound`` /
``upper_bound``; ``min_length`` / ``max_length``). The same entries come
from the BMC's live registry (redfish_bios.py) and from a node's cached
``bios_settings`` table (the conductor's check before it accepts a manual
cleaning request), so both refuse with the same words.
"""

import collections
import difflib
import re

from hwdrivers.common import exception
from hwdrivers.common import log_text

#: The argsinfo of apply_configuration's one argument.
SETTINGS_HELP = ("A list of {\"name\": <BIOS attribute>, \"value\": <new value>}; each "
                 "attribute must exist in the BIOS registry and not be read-only")


#: A registry entry's numbers: Integer bounds, String lengths.
NUMERIC_FIELDS = ("lower_bound", "upper_bound", "min_length", "max_length")

#: What a stored bound or length can hold (a 64-bit column, migration 0009).
_INT64 = range(-2 ** 63, 2 ** 63)


def registry_int(value) -> int | None:
    """A registry's bound or length as an integer, or None: no bound.

    The BMC's registry is JSON of the vendor's making; sushy passes
    ``LowerBound``, ``UpperBound``, ``MinLength`` and ``MaxLength`` on as
    given. A string (``"10"``), a float or a boolean there made the range
    check compare a number with a string (a TypeError, not a refusal) and
    failed to store on PostgreSQL, losing the whole BIOS table. A whole
    number (``10``, ``10.0``, ``"10"``) is kept; anything else, or a
    number no 64-bit column holds, is read as no bound: the BMC still
    enforces its own.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        value = int(value.strip())
    return value if isinstance(value, int) and value in _INT64 else None


def _describe(entry: dict) -> str:
    kind = entry.get("attribute_type")
    if entry.get("allowable_values"):
        return "allowed values: %s" % ", ".join(map(str, entry["allowable_values"]))
    if kind == "Integer":
        return "an integer%s" % _range(entry.get("lower_bound"), entry.get("upper_bound"), "")
    if kind == "Boolean":
        return "true or false"
    if kind == "String":
        high = entry.get("max_length")
        low = entry.get("min_length") or (0 if high is not None else None)
        return "a string%s" % _range(low, high, " characters", "of ")
    return "a %s" % (kind or "value").lower()


def _range(low, high, unit, both="from ") -> str:
    """`` from 1 to 30`` (`` of 1 to 30 characters``), `` of at least 1``,
    `` of at most 30`` or nothing: the bounds a registry gives.

    Without this a registry giving one bound or none (common: LowerBound
    only, or neither) was described as "an integer from None to None", and a
    String's minimum length was not named when it had no maximum ("'' has 0
    characters; a string"): the refusal did not say what would be accepted.
    """
    if low is not None and high is not None:
        return " %s%s to %s%s" % (both, low, high, unit)
    if low is not None:
        return " of at least %s%s" % (low, unit)
    if high is not None:
        return " of at most %s%s" % (high, unit)
    return ""


def _shown(value) -> str:
    """``repr(value)``, cut after 60 characters: a refused megabyte is not echoed."""
    return log_text.cut(repr(value), 60)


#: JSON types a BIOS attribute cannot hold, as a refusal names them.
_NOT_SCALAR = {type(None): "null", dict: "a JSON object", list: "a JSON array"}


def _shape_error(name: str, value) -> str | None:
    """Why ``value`` can be no BIOS attribute's value: Redfish attributes hold a
    string, a number or a boolean. A null, object or array was checked as its
    Python text (``None`` is 4 characters, within a String's length) and sent
    as is. Names the JSON type only: the value may be a password."""
    what = next((text for kind, text in _NOT_SCALAR.items() if isinstance(value, kind)), None)
    if what is None:
        return None
    return ("attribute %s: %s is not a BIOS value; give a string, a number or true/false "
            "(\"\" for an empty string)" % (name, what))


def _value_error(name: str, value, entry: dict) -> str | None:
    kind = entry.get("attribute_type")  # the value is a scalar: check_shape saw to it
    if kind == "Password":
        return None  # not checked here: a message would echo it
    allowed = entry.get("allowable_values")
    if allowed and str(value) not in [str(a) for a in allowed]:
        return "attribute %s: %s is not allowed; %s" % (name, _shown(value), _describe(entry))
    if kind == "Integer":
        try:
            number = int(value)
            if isinstance(value, bool) or str(number) != str(value).strip():
                raise ValueError
        except (TypeError, ValueError):
            return "attribute %s: %s is not an integer; %s" % (name, _shown(value),
                                                                 _describe(entry))
        low, high = entry.get("lower_bound"), entry.get("upper_bound")
        if low is not None and number < low or high is not None and number > high:
            return "attribute %s: %d is out of range; %s" % (name, number, _describe(entry))
    if kind == "Boolean" and str(value).lower() not in ("true", "false"):
        return "attribute %s: %s is not a boolean; %s" % (name, _shown(value), _describe(entry))
    if kind == "String":
        length = len(str(value))
        low, high = entry.get("min_length"), entry.get("max_length")
        if low is not None and length < low or high is not None and length > high:
            return "attribute %s: %s has %d characters; %s" % (name, _shown(value), length,
                                                               _describe(entry))
    return None


def check_shape(settings) -> None:
    """InvalidParameterValue unless ``settings`` is a non-empty list of {"name", "value"},
    each named and valued as some BIOS attribute could be (:func:`_shape_error`).

    Needs no registry, so the API can refuse a malformed request even for a
    node whose BIOS was never read.
    """
    if not isinstance(settings, list) or not settings:
        raise exception.InvalidParameterValue(
            "settings must be a non-empty list of {\"name\", \"value\"} objects")
    errors = []
    for index, setting in enumerate(settings):
        if (not isinstance(setting, dict) or not isinstance(setting.get("name"), str)
                or "value" not in setting or set(setting) - {"name", "value"}):
            errors.append("settings[%d] must be {\"name\": <attribute>, \"value\": <value>}"
                          % index)
        elif not setting["name"].strip():
            errors.append("settings[%d]: name is empty; give the BIOS attribute's name" % index)
        else:
            # Needs no registry either: the API refuses it for a node whose
            # BIOS was never read, instead of the step failing at the BMC.
            shape = _shape_error(setting["name"], setting["value"])
            if shape:
                errors.append("settings[%d]: %s" % (index, shape))
    if errors:
        raise exception.InvalidParameterValue("BIOS settings refused, nothing was sent: %s"
                                              % listed(errors, "; ", "problem"))


def check_settings(settings, registry: dict) -> list[dict]:
    """``settings`` normalised to ``[{"name", "value"}]``; InvalidParameterValue otherwise.

    Every problem in one error: an attribute given twice, one the registry
    does not have (with the names it has), a read-only one, a value the
    registry does not allow (with what it allows).
    """
    check_shape(settings)
    errors, normalised, unknown = [], [], []
    # Twice in one request is ambiguous (the BMC would get whichever came
    # last); the values are not echoed, one of them may be a password.
    # Counted once (a 1 MiB request holds ~40,000 settings: counting each
    # name over the list took ~20 s of an API thread).
    counts = collections.Counter(setting["name"] for setting in settings)
    errors.extend("attribute %s is given %d times; give it once" % (
        name if len(name) <= 60 else _shown(name), times)
        for name, times in sorted(counts.items()) if times > 1)
    for setting in settings:
        name, value = setting["name"], setting["value"]
        entry = registry.get(name)
        if entry is None:
            unknown.append(name if len(name) <= 60 else _shown(name))
            continue
        if entry.get("read_only"):
            errors.append("attribute %s is read-only (%s; current value %s)" % (
                name, _describe(entry), "******" if entry.get("attribute_type") == "Password"
                else repr(entry.get("value"))))
            continue
        problem = _value_error(name, value, entry)
        if problem:
            errors.append(problem)
            continue
        normalised.append({"name": name, "value": value})
    if unknown:
        # The registry's names once, not once per unknown attribute; and a
        # large one only by the names closest to those asked (names_hint).
        errors.insert(0, "%s in the BIOS registry; %s" % (
            "attribute %s does not exist" % unknown[0] if len(unknown) == 1 else
            "attributes %s do not exist" % listed(unknown), names_hint(unknown, registry)))
    if errors:
        raise exception.InvalidParameterValue("BIOS settings refused, nothing was sent: %s"
                                              % listed(errors, "; ", "problem"))
    return normalised


#: How many names (or problems) an error lists before it says how many more.
LISTED = 20


#: Where a large BIOS's names are listed, for a refusal that names only some.
WHERE_LISTED = "GET /v1/nodes/<node>/bios, filled by an inspection,"


def names_hint(asked, names, where=WHERE_LISTED) -> str:
    """What to say of the attributes a BIOS has when ``asked`` names are not among them.

    A BIOS of up to :data:`LISTED` attributes is listed whole. A larger one
    (a Dell registry has ~400, an HPE one more) was listed whole too, in an
    API error and in ``last_error``, which every node listing carries:
    kilobytes of names to find the one meant. Now the names closest to
    those asked (a misspelling, a vendor prefix) and how many there are,
    with ``where`` the full list is.
    """
    names = sorted(names)
    if len(names) <= LISTED:
        return "it has: %s" % (", ".join(names) or "none")
    close = []
    for name in asked[:LISTED]:
        close.extend(c for c in difflib.get_close_matches(name, names, 3, 0.6)
                     if c not in close)
    return "it has %d attributes (%s lists them)%s" % (
        len(names), where, "; closest: %s" % listed(close) if close else "")


def listed(items, sep=", ", what="") -> str:
    """The first :data:`LISTED` items, then how many more: refusals stay short
    (the BIOS checks' and manual cleaning's)."""
    shown = sep.join(items[:LISTED])
    if len(items) > LISTED:
        shown += "%sand %d more%s" % (sep, len(items) - LISTED,
                                      " %ss" % what if what else "")
    return shown
