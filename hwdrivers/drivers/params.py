"""driver_info declarations: each parameter is described once, here.

An interface lists its parameters as :class:`Param` objects in a
:class:`Schema`. From that one declaration come ``get_properties()``,
validation that reports every missing and invalid field in one error, the
masking of secrets in output and logs, and generated help. The declaration,
not the key's spelling, decides what is secret.
"""

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from hwdrivers.common import exception

__all__ = ["MASK", "redact", "NODE_FIX", "TYPES", "EMPTY", "CheckFailed", "Param", "Problems",
           "Rule", "Schema", "driver_info_error", "parse_address", "parse_bool",
           "TRUE_STRINGS", "FALSE_STRINGS", "without_password"]

MASK = "******"

#: A secret shorter than this is masked only where it stands alone.
SHORT_SECRET = 4
_WORD_CHAR = "0-9A-Za-z"


#: ``user:password@`` in a URL or address someone typed into a field.
_USERINFO = re.compile(r"([^\s/@:]*):[^\s/@]*@")


def without_password(value: Any) -> Any:
    """``value`` with the password of any ``user:password@`` in it masked.

    For echoing a refused field's value: an address typed with credentials
    (``admin:pw@10.0.0.1``, a URL the field refuses) holds a secret the
    field's declaration cannot know about.
    """
    if isinstance(value, str) and "@" in value:
        return _USERINFO.sub(lambda m: "%s:%s@" % (m.group(1), MASK), value)
    return value


def redact(text: object, secrets: Iterable[str | None]) -> str:
    """Text from outside -- a tool's output, a library's error -- with ``secrets`` masked.

    For that text only, never for a message of our own: ours never hold a
    secret, and masking one that happens to equal a word of ours ("no
    answer from the BMC" with the password "BMC") shows the secret by its
    context. For the same reason a secret shorter than :data:`SHORT_SECRET`
    is masked only where it stands alone, not inside words ("a" would
    turn "no answer" into "no ******nswer"); a longer one is masked
    wherever it appears, since a tool may print it glued to an option
    (``-Psecret``).
    """
    text = str(text)
    for secret in secrets:
        if not secret or secret not in text:
            continue
        if len(secret) >= SHORT_SECRET:
            text = text.replace(secret, MASK)
        else:
            text = re.sub("(?<![%s])%s(?![%s])" % (_WORD_CHAR, re.escape(secret), _WORD_CHAR),
                          MASK, text)
    return text

#: The spellings of a boolean (any case, spaces around ignored): oslo's
#: strict ``bool_from_string``, as Ironic reads a boolean field or query
#: parameter, and what its clients send (``port set --pxe-disabled``: "False").
TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)"
    r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$")

TYPES = ("str", "int", "float", "port", "bool", "choice", "address")

#: The fix every driver_info error ends with when the node is stored.
NODE_FIX = "Fix with 'hwdrivers node set <node> --driver-info <field>=<value>'."


#: An integer as driver_info may spell it: ASCII digits, an optional minus.
_DECIMAL = re.compile(r"-?[0-9]+")
#: A float as driver_info may spell it: decimal, optionally with an exponent.
_DECIMAL_FLOAT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def parse_int(value, minimum=None, maximum=None):
    """``value`` as an int: an int, or text of decimal digits; ValueError otherwise.

    Python's ``int()`` also reads ``1_3`` as 13, ``+13``, and digits of
    other scripts: a typo in an outlet or port number must not name another
    outlet (the PDUDaemon listener, matching requests to stored outlets,
    reads numbers this strictly too).
    """
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not (text.isascii() and _DECIMAL.fullmatch(text)):
            raise ValueError("must be an integer (decimal digits, e.g. 13)")
        number = int(text)
    if minimum is not None and number < minimum:
        raise ValueError("must be at least %s" % minimum)
    if maximum is not None and number > maximum:
        raise ValueError("must be at most %s" % maximum)
    return number


FLOAT_WANTED = "must be a finite decimal number, e.g. 2.5"


def parse_float(value, minimum=None, maximum=None):
    """``value`` as a finite float: a number, or decimal text; ValueError otherwise.

    Python's ``float()`` also reads ``inf``, ``nan``, ``1_0`` and digits of
    other scripts. An infinite timeout passed validation and then failed
    every action with an OverflowError, and went to an external driver as
    ``Infinity``, which is not JSON.
    """
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise ValueError(FLOAT_WANTED) from None
    else:
        text = str(value).strip()
        if not (text.isascii() and _DECIMAL_FLOAT.fullmatch(text)):
            raise ValueError(FLOAT_WANTED)
        number = float(text)
    if not math.isfinite(number):
        raise ValueError(FLOAT_WANTED)
    if minimum is not None and number < minimum:
        raise ValueError("must be at least %s" % minimum)
    if maximum is not None and number > maximum:
        raise ValueError("must be at most %s" % maximum)
    return number


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_STRINGS:
        return True
    if text in FALSE_STRINGS:
        return False
    raise ValueError("must be true or false")


def parse_address(value: Any) -> str:
    """An IPv4/IPv6 address or a DNS name; IPv6 may be bracketed.

    :raises ValueError: saying what is expected.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an IP address or host name")
    text = value.strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if _HOSTNAME.match(text) and not text.replace(".", "").isdigit():
        return text
    raise ValueError("must be an IP address or host name (no scheme, port or path)")


class CheckFailed(ValueError):
    """A :class:`Param` ``check`` refused the value; its text says why.

    Raised instead of the type's own ValueError so the schema never echoes
    the value next to it: a check may refuse a value precisely because it
    holds a credential (``https://user:pw@bmc``).
    """


class Param:
    """One driver_info parameter.

    :param type: one of ``str``, ``int``, ``float``, ``port``, ``bool``,
        ``choice`` (with ``choices``), ``address``.
    :param secret: masked in every output, never logged or put in errors.
    :param default: used when the field is absent (never for required ones).
    :param check: ``check(typed_value)``, run after the type's own parsing,
        raising ValueError whose text says what is wrong (it is shown as is,
        without the value). For what a type cannot say: a URL with no
        credentials in it, a path that exists.
    """

    __slots__ = ("name", "description", "required", "secret", "type",
                 "default", "choices", "min", "max", "check")

    def __init__(self, name: str, description: str, *, required: bool = False,
                 secret: bool = False, type: str = "str", default: Any = None,
                 choices: Iterable[Any] | None = None, min: float | None = None,
                 max: float | None = None,
                 check: Callable[[Any], None] | None = None) -> None:
        if type not in TYPES:
            raise ValueError("Param %s: unknown type %r; use one of %s"
                             % (name, type, ", ".join(TYPES)))
        if type == "choice" and not choices:
            raise ValueError("Param %s: type choice needs choices" % name)
        if required and default is not None:
            raise ValueError("Param %s: a required field cannot have a default" % name)
        self.name = name
        self.description = description
        self.required = required
        self.secret = secret
        self.type = type
        self.choices = tuple(choices) if choices else None
        self.min = min
        self.max = max
        self.default = default
        self.check = check

    def __repr__(self):
        return "Param(%r, type=%r%s%s)" % (
            self.name, self.type, ", required" if self.required else "",
            ", secret" if self.secret else "")

    def parse(self, value: Any) -> Any:
        """The typed value.

        :raises ValueError: saying what is expected (:class:`CheckFailed`
            when ``check`` refused it).
        """
        typed = self._parse_type(value)
        if self.check is not None:
            try:
                self.check(typed)
            except ValueError as exc:
                raise CheckFailed(str(exc)) from None
        return typed

    def _parse_type(self, value):
        if self.type == "str":
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError("must be a string")
            text = str(value)
            if self.required and not text.strip():
                raise ValueError("must not be empty")
            return text
        if self.type == "int":
            return parse_int(value, self.min, self.max)
        if self.type == "float":
            return parse_float(value, self.min, self.max)
        if self.type == "port":
            try:
                return parse_int(value, 1, 65535)
            except ValueError:
                raise ValueError("must be a port number from 1 to 65535") from None
        if self.type == "bool":
            return parse_bool(value)
        if self.type == "address":
            return parse_address(value)
        if self.type == "choice":
            text = str(value).strip()
            for choice in self.choices:
                if text == str(choice) or text.lower() == str(choice).lower():
                    return choice
            raise ValueError("must be one of: %s"
                             % ", ".join(str(c) for c in self.choices))
        raise AssertionError(self.type)

    def describe(self) -> str:
        """The text get_properties() shows for this parameter."""
        text = self.description.rstrip(".") + "."
        if self.type == "choice":
            text += " One of: %s." % ", ".join(str(c) for c in self.choices)
        if self.required:
            text += " Required."
        else:
            text += " Optional."
            if self.default is not None:
                text += " Default: %s." % (self.default,)
        if self.secret:
            text += " Secret."
        return text


class Problems:
    """Everything wrong with one driver_info, gathered for one error.

    ``missing`` holds names of absent required fields; ``invalid`` holds
    sentences that start with the field(s) they are about ("field snmp_port
    must be ..."). A :class:`Rule` adds to both.
    """

    def __init__(self, missing: Iterable[str] = (), invalid: Iterable[str] = ()) -> None:
        self.missing: list[str] = list(missing)
        self.invalid: list[str] = list(invalid)

    def require(self, name: str) -> None:
        """Report the field ``name`` as absent but needed (once)."""
        if name not in self.missing:
            self.missing.append(name)

    def refuse(self, text: str) -> None:
        """Report a problem; ``text`` names the field(s) and never a secret's value."""
        self.invalid.append(text)

    def __bool__(self) -> bool:
        return bool(self.missing or self.invalid)


class Rule:
    """A check spanning several fields, declared beside the :class:`Param` s.

    ``check(values, problems)`` gets every declared field typed (``None``
    when absent or invalid, which the per-field checks already reported)
    and adds to ``problems``. It may also add derived entries to
    ``values`` (a version chosen from two synonyms, a parsed URL): they are
    part of what :meth:`Schema.parse` returns. Rules run even when fields
    are wrong, so one error lists every problem; with ``fields``, a rule is
    skipped when any of those fields is present but invalid.
    """

    __slots__ = ("check", "fields")

    def __init__(self, check: "Callable[[dict[str, Any], Problems], None]",
                 fields: Iterable[str] = ()) -> None:
        self.check = check
        self.fields = tuple(fields)

    def __repr__(self) -> str:
        return "Rule(%s)" % getattr(self.check, "__name__", self.check)


def driver_info_error(problems: Problems, node: str | None = None,
                      schema: "Schema | None" = None,
                      fix: str = NODE_FIX) -> exception.InvalidParameterValue:
    """The one error listing every problem: the only way drivers build it.

    :class:`~hwdrivers.common.exception.MissingParameterValue` when only
    required fields are absent, else
    :class:`~hwdrivers.common.exception.InvalidParameterValue`. Missing fields
    are described from ``schema``. The node and the fix are kept apart
    from the text (``exc.node``, ``exc.fix``) so a caller with no stored node
    (the one-shot CLI) can reword them with ``exc.reworded(...)``.
    """
    errors = []
    if problems.missing:
        described = []
        for name in problems.missing:
            param = schema._params.get(name) if schema is not None else None
            described.append("%s (%s)" % (name, param.description.split(" (")[0]
                                           .rstrip(".")) if param else name)
        errors.append("missing required driver_info field(s): %s"
                      % ", ".join(described))
    errors.extend("invalid driver_info %s" % text for text in problems.invalid)
    cls = (exception.InvalidParameterValue if problems.invalid
           else exception.MissingParameterValue)
    return cls(errors=errors, node=node, fix=fix)


class Schema:
    """An ordered set of :class:`Param`, the declaration of an interface.

    ``rules`` are the :class:`Rule` s that span several fields. Schemas
    combine with ``+`` (rules too); a name declared twice must be declared
    the same way (two interfaces of one driver share ``ipmi_address``).
    """

    def __init__(self, *params: Param, rules: Iterable[Rule] = ()) -> None:
        self._params: dict[str, Param] = {}
        self._secret_names: frozenset[str] | None = None
        self.rules: tuple[Rule, ...] = tuple(rules)
        for param in params:
            self._add(param)

    def _add(self, param: Param) -> None:
        self._secret_names = None
        existing = self._params.get(param.name)
        if existing is not None and (existing.secret != param.secret
                                     or existing.type != param.type):
            raise ValueError("driver_info field %s is declared twice, "
                             "differently" % param.name)
        if existing is None or (param.required and not existing.required):
            self._params[param.name] = param

    def __add__(self, other: "Schema") -> "Schema":
        merged = Schema(*self._params.values(), rules=self.rules + tuple(
            r for r in getattr(other, "rules", ()) if r not in self.rules))
        for param in other:
            merged._add(param)
        return merged

    def __iter__(self) -> Iterator[Param]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    @property
    def secret_names(self) -> frozenset[str]:
        # Asked for every node of a listing (to mask it): computed once.
        if self._secret_names is None:
            self._secret_names = frozenset(p.name for p in self if p.secret)
        return self._secret_names

    def properties(self) -> dict[str, str]:
        """``{name: description}`` as Ironic's ``get_properties()`` returns."""
        return {p.name: p.describe() for p in self}

    def errors(self, driver_info: Mapping[str, Any] | None
               ) -> tuple[list[str], list[str]]:
        """Every problem with ``driver_info``: (missing names, invalid messages).

        The per-field checks and the :attr:`rules` alike; misspelt keys
        are :meth:`unknown`'s.
        """
        problems = self.check(driver_info)[1]
        return problems.missing, problems.invalid

    def check(self, driver_info: Mapping[str, Any] | None
              ) -> tuple[dict[str, Any], Problems]:
        """``(values, problems)``: typed values (``None`` where absent or invalid,
        defaults filled in, derived entries added by the rules) and every
        problem the fields and the rules found. Raises nothing.
        """
        driver_info = driver_info or {}
        problems = Problems()
        values: dict[str, Any] = {}
        bad = set()
        for param in self:
            raw = driver_info.get(param.name)
            if raw is None:
                if param.required:
                    problems.require(param.name)
                values[param.name] = param.default
                continue
            try:
                values[param.name] = param.parse(raw)
            except ValueError as exc:
                values[param.name] = None
                bad.add(param.name)
                hidden = param.secret or isinstance(exc, CheckFailed)
                shown = "" if hidden else " (got %r)" % (without_password(raw),)
                problems.refuse("field %s%s %s" % (param.name, shown, exc))
        for rule in self.rules:
            if not bad.intersection(rule.fields):
                rule.check(values, problems)
        return values, problems

    def unknown(self, driver_info: Mapping[str, Any] | None) -> list[str]:
        """Fields that look like misspellings of declared ones, with the fix.

        A misspelt secret (``ipmi_pasword``) would otherwise be stored and
        shown unmasked, so near-misses are errors even for one interface's
        schema, which does not know its siblings' keys. Keys no interface of
        a node declares at all are :meth:`undeclared` (refused at enrolment,
        unless ``[api] unknown_driver_info = warn`` for nodes moved from Ironic).
        """
        problems = []
        names = list(self._params)
        for key in (driver_info or {}):
            if key in self._params:
                continue
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.85)
            if close:
                problems.append("field %s is not known; did you mean %s?"
                                % (key, close[0]))
        return problems

    def undeclared(self, keys: Iterable[str] | None) -> dict[str, str | None]:
        """``{key: closest declared name or None}`` for keys no Param declares.

        For a node's composed schema (every interface's declaration for its
        driver_info): a key in none of them is read by nobody, so
        ``ipmi_user`` instead of ``ipmi_username`` would silently log in as
        the anonymous user.
        """
        names = list(self._params)
        found = {}
        for key in keys or ():
            if key not in self._params:
                close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
                found[key] = close[0] if close else None
        return found

    def undeclared_message(self, keys: Iterable[str] | None) -> str | None:
        """One sentence naming each undeclared key, its likely fix and the valid keys."""
        found = self.undeclared(keys)
        if not found:
            return None
        parts = ["%s (did you mean %s?)" % (k, hint) if hint else k
                 for k, hint in sorted(found.items())]
        return ("unknown driver_info field(s) %s: no interface of this node reads "
                "them; valid fields: %s" % (", ".join(parts),
                                            ", ".join(sorted(self._params)) or "none"))

    def parse(self, driver_info: Mapping[str, Any] | None, node: str | None = None,
              check_unknown: bool = True, fix: str = NODE_FIX) -> dict[str, Any]:
        """Typed values for every declared field (defaults filled in), plus
        what the :attr:`rules` derive.

        :param node: named in the error (its UUID or name).
        :param check_unknown: also refuse near-misses of declared names.
        :param fix: the sentence that ends the error.
        :raises MissingParameterValue: only required fields are absent.
        :raises InvalidParameterValue: anything else, every problem at once.
        """
        values, problems = self.check(driver_info)
        if check_unknown:
            problems.invalid.extend(self.unknown(driver_info))
        if problems:
            raise self.error(problems, node, fix=fix)
        return values

    def error(self, problems: Problems, node: str | None = None,
              fix: str = NODE_FIX) -> exception.InvalidParameterValue:
        """:func:`driver_info_error` with this schema's descriptions."""
        return driver_info_error(problems, node, self, fix)

    def mask(self, driver_info: Mapping[str, Any] | None) -> dict[str, Any]:
        """A copy with every declared secret replaced by ``******``."""
        secrets = self.secret_names
        return {k: (MASK if k in secrets and v not in (None, "") else v)
                for k, v in (driver_info or {}).items()}


#: A schema with no parameters, for interfaces that need none.
EMPTY = Schema()
