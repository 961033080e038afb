"""Read JSON that can be written back as JSON: finite numbers, real text.

Python's json module reads more than standard JSON: the constants
``NaN``, ``Infinity`` and ``-Infinity``, numbers too large for a float
(``1e999`` becomes infinity), and strings holding lone UTF-16 surrogates
(a ``\\ud800`` escape without its pair, or its bytes encoded as if UTF-8).
None of these can be written back as standard JSON: a node storing one
was listed as ``NaN`` or ``"\\ud800"``, which strict parsers (jq, Go,
Rust's serde) refuse, so one such node broke every client's listing.
:func:`loads` is where values that are stored come in (REST bodies, the
CLI's JSON files); it refuses them and names where they are.

It must cost nothing on the power requests that are most of the API's
traffic: the constants and overflowing floats are caught by the decoder's
own hooks (called only for a constant or a float literal), and the value
is walked for surrogates only when the text has a ``\\uD...`` escape or
its bytes were not strict UTF-8.
"""

import json
import math
import re

#: Any code point a surrogate escape can leave in a decoded string: json
#: joins a valid high+low pair into one character, so each one found is lone.
_SURROGATE = re.compile("[\ud800-\udfff]")

_FINITE = "a finite number"
_TEXT = "valid UTF-8 text"
_TEXT_HINT = (" (a character beyond U+FFFF is written as its UTF-8 bytes or as a pair of "
              "escapes, such as \\ud83d\\ude00)")


class JSONValueError(ValueError):
    """A value Python's json reads but JSON cannot carry; says where and the fix.

    Messages name where the value is, never the value: it may be a password.
    """

    def __init__(self, path, problem, fix, hint=""):
        self.path = path
        self.problem = problem
        self.fix = fix
        self.hint = hint
        super().__init__(self.describe())

    def describe(self, whole="the document", verb="send"):
        """The message, calling the top-level value ``whole`` and the fix ``verb``."""
        return "%s %s; %s %s instead%s." % (self.path or whole, self.problem, verb,
                                            self.fix, self.hint)


class _NotFinite(Exception):
    """Raised by the strict decoder's hooks: parse again with :data:`_MARKING`."""


class _Refused:
    """What :data:`_MARKING` puts in place of a non-finite number, to find it."""

    __slots__ = ("problem",)

    def __init__(self, problem):
        self.problem = problem


def _refuse_constant(name):
    raise _NotFinite


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # a JSON literal is never NaN: this is an overflow
        raise _NotFinite
    return value


def _mark_constant(name):
    return _Refused("is %s, which is not a JSON number" % name)


def _mark_float(text):
    value = float(text)
    if math.isfinite(value):
        return value
    return _Refused("is a number too large for a float (such as 1e999, it reads as infinity)")


#: Built once: json.loads with hooks would build a decoder per call.
_STRICT = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_MARKING = json.JSONDecoder(parse_constant=_mark_constant, parse_float=_mark_float)


def loads(raw):
    """``raw`` (bytes or str) as standard JSON, or :class:`JSONValueError`.

    Input that is not JSON at all raises what ``json.loads`` raises
    (ValueError, UnicodeDecodeError; RecursionError when too deep).
    """
    text, unchecked = _text(raw)
    try:
        value = _STRICT.decode(text)
    except _NotFinite:
        raise first_refused(_MARKING.decode(text)) from None
    if unchecked or "\\ud" in text or "\\uD" in text:
        error = first_refused(value)
        if error is not None:
            raise error
    return value


def _text(raw):
    """``raw`` as text, and whether it may hold surrogates no escape shows.

    Bytes are decoded as ``json.loads`` decodes them (UTF-8, or UTF-16/32
    told by the first bytes) but strictly; only when that fails are
    surrogates let through (as ``json.loads`` always does), for
    :func:`first_refused` to say where they are. Bytes that are not
    text even so raise UnicodeDecodeError.
    """
    if isinstance(raw, str):
        return raw, not raw.isascii()
    encoding = json.detect_encoding(raw)
    try:
        return raw.decode(encoding), False
    except UnicodeDecodeError:
        return raw.decode(encoding, "surrogatepass"), True


def check_text(value, path):
    """:class:`JSONValueError` when the string ``value`` holds a surrogate, else ``value``.

    For text that reaches JSON columns without being JSON first: command
    line arguments and standard input, where bytes that are not UTF-8
    arrive as surrogates (Python's surrogateescape).
    """
    if _SURROGATE.search(value):
        raise JSONValueError(path, "is not valid UTF-8 text (it holds a byte that does not "
                             "decode, or a lone surrogate)", _TEXT)
    return value


def first_refused(value):
    """:class:`JSONValueError` for the first bad value in ``value``, else None.

    Walks in document order without recursion (the body's depth is
    checked after this), a key before its value.
    """
    stack = [(value, None)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return _lone(where, "holds")
        elif isinstance(item, _Refused):
            return JSONValueError(_path(where), item.problem, _FINITE)
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if _SURROGATE.search(key):
                    return _lone(where, 'has the key "%s" holding' % _shown(key))
                children.append((child, (where, key)))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(child, (where, index))
                                   for index, child in enumerate(item)]))
    return None


def _lone(where, holds):
    return JSONValueError(
        _path(where), "%s a lone UTF-16 surrogate (one half of a pair, as \\ud800 is), "
        "which is not text" % holds, _TEXT, _TEXT_HINT)


def _shown(text):
    """``text`` with surrogates as ``\\udXXX``: a message may not hold them either."""
    return _SURROGATE.sub(lambda found: "\\u%04x" % ord(found.group()), text)


def _path(where):
    """``properties.cpus``, ``[0].value``: the linked (parent, key) pairs, joined."""
    parts = []
    while where is not None:
        where, key = where
        if isinstance(key, int):
            parts.append("[%d]" % key)
        else:
            parts.append(_shown(key) if where is None else "." + _shown(key))
    return "".join(reversed(parts))


def repaired(value):
    """A copy of ``value`` that standard JSON can carry, for values stored before.

    Rows written before :func:`loads` guarded the way in may still hold
    NaN, an infinity or a lone surrogate: shown, NaN and the infinities
    become null (as orjson writes them) and each lone surrogate U+FFFD,
    the replacement character, so one such node cannot make a whole
    listing invalid JSON. Anything else (datetimes, enums) is kept for
    the encoder's own default.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {repaired(key) if isinstance(key, str) else key: repaired(child)
                for key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return [repaired(child) for child in value]
    return value
