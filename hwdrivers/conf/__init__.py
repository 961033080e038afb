"""Configuration: one module per option group, all registered on ``CONF``."""

import math
import re

from oslo_config import cfg
from oslo_config import types

from hwdrivers.conf import api
from hwdrivers.conf import conductor
from hwdrivers.conf import database
from hwdrivers.conf import command
from hwdrivers.conf import console
from hwdrivers.conf import default
from hwdrivers.conf import deploy
from hwdrivers.conf import external
from hwdrivers.conf import fake
from hwdrivers.conf import hardware_type
from hwdrivers.conf import inspector
from hwdrivers.conf import ipmi
from hwdrivers.conf import json_rpc
from hwdrivers.conf import pdudaemon
from hwdrivers.conf import redfish
from hwdrivers.conf import secrets
from hwdrivers.conf import snmp

CONF = cfg.CONF

default.register_opts(CONF)
api.register_opts(CONF)
conductor.register_opts(CONF)
database.register_opts(CONF)
fake.register_opts(CONF)
deploy.register_opts(CONF)
pdudaemon.register_opts(CONF)
secrets.register_opts(CONF)
json_rpc.register_opts(CONF)
for _module in (ipmi, redfish, snmp, command, external, console, inspector):
    _module.register_opts(CONF)

register_hardware_type_group = hardware_type.register_group


def check_values(conf=CONF):
    """Read every registered option once, so a bad value fails at start-up.

    oslo.config converts values lazily; without this a typo in a rarely
    used option would surface in the middle of an operation. Raises
    ``cfg.ConfigFileValueError`` whose text is the whole line to show
    (:func:`describe_invalid`): oslo's own names the source as a
    ``LocationInfo(...)`` object dump and never says what is allowed.
    """
    for group_name in [None] + sorted(conf.keys()):
        if group_name is None:
            names = [k for k in conf.keys()
                     if not isinstance(getattr(conf, k, None), cfg.ConfigOpts.GroupAttr)]
            group = conf
        else:
            group = getattr(conf, group_name)
            if not isinstance(group, cfg.ConfigOpts.GroupAttr):
                continue
            names = list(group.keys())
        for name in names:
            try:
                getattr(group, name)
            except ValueError as exc:  # oslo's ConfigFileValueError is one too
                raise cfg.ConfigFileValueError(
                    describe_invalid(conf, group_name, name, exc)) from None


def describe_invalid(conf, group_name, name, error):
    """``invalid value for [group] name in FILE: 'v' is not ... (allowed)``.

    The value is left out when the option is secret. What oslo keeps
    private (the option object, the raw text and where it came from) is
    read defensively: without it the line still names the option, and
    gives oslo's reason.
    """
    opt = _opt(conf, group_name, name)
    raw, where = _raw_value(conf, opt, group_name, name)
    if where is None:
        where = _where_from_message(str(error))
    secret = opt is None or getattr(opt, "secret", False)
    if raw is None:
        shown = "the value"
    else:
        shown = "the value (secret, not shown)" if secret else repr(raw)
    problem = _problem(opt, raw) if opt is not None and raw is not None else None
    if problem is None:
        reason = str(error).rpartition(" is not valid: ")[2]
        problem = "is not valid" + ("" if secret else " (%s)" % reason)
    return "invalid value for [%s] %s%s: %s %s" % (
        group_name or "DEFAULT", name, where and " " + where or "", shown, problem)


def _opt(conf, group_name, name):
    try:
        return conf._get_opt_info(name, group_name)["opt"]
    except Exception:  # oslo internals moved: describe without the type
        return None


def _raw_value(conf, opt, group_name, name):
    """(the text as written, where) as oslo picks it: command line, environment, files."""
    if opt is None:
        return None, None
    try:
        try:
            value, location = opt._get_from_namespace(conf._namespace, group_name)
        except KeyError:  # in no file nor on the command line
            value, location = None, None
        if location is None or location.location != cfg.Locations.command_line:
            env_value, env_location = conf._env_driver.get(group_name, name, opt)
            if env_location is not None:
                value, location = env_value, env_location
    except Exception:  # oslo internals moved
        return None, None
    if isinstance(value, list):
        value = value[-1] if value else None
    return value, _where(location)


def _where(location):
    if location is None:
        return None
    if location.location == cfg.Locations.user:
        return "in %s" % location.detail
    if location.location == cfg.Locations.environment:
        return "from the environment variable %s" % location.detail
    if location.location == cfg.Locations.command_line:
        return "on the command line"
    return None


def _where_from_message(text):
    """The file in oslo's ``LocationInfo(..., detail='FILE')``, as ``in FILE``."""
    found = re.search(r"detail='([^']*)'", text)
    return "in %s" % found.group(1) if found else None


def _problem(opt, raw):
    """What is wrong with ``raw`` for ``opt``'s type, and what is allowed; or None."""
    kind = opt.type
    allowed = _allowed(kind)
    if allowed is None:
        return None
    if getattr(kind, "choices", None):
        return "is not one of the allowed values (%s)" % allowed
    if isinstance(kind, types.Number):
        try:
            number = kind.num_type(str(raw).strip())
        except ValueError:
            noun = "integer" if kind.num_type is int else "number"
            return "is not a valid %s (%s)" % (noun, allowed)
        if not math.isfinite(number):  # finite.FloatOpt's refusal
            return "is not a finite number (%s)" % allowed
        return "is out of range (%s)" % allowed
    if isinstance(kind, types.Boolean):
        return "is not a valid boolean (%s)" % allowed
    if isinstance(kind, types.List):
        return "is not a valid list (%s)" % allowed
    return "is not allowed (%s)" % allowed


def _allowed(kind):
    """What ``kind`` (an oslo type) accepts, in words; None when it cannot say."""
    choices = getattr(kind, "choices", None)
    if choices:
        return "one of: %s" % ", ".join(str(choice) for choice in choices)
    if isinstance(kind, types.Number):
        noun = "a whole number" if kind.num_type is int else "a number"
        low, high = kind.min, kind.max
        if low is not None and high is not None:
            return "%s from %s to %s" % (noun, low, high)
        if low is not None:
            return "%s, at least %s" % (noun, low)
        if high is not None:
            return "%s, at most %s" % (noun, high)
        return noun
    if isinstance(kind, types.Boolean):
        return "true or false; also yes/no, on/off, 1/0"
    if isinstance(kind, types.List):
        item = _allowed(kind.item_type)
        return "comma-separated values" + (", each %s" % item if item else "")
    if isinstance(kind, types.HostAddress):
        return "an IP address or a host name"
    if isinstance(kind, types.String):
        if kind.regex is not None:
            return "text matching %s" % kind.regex.pattern
        if kind.max_length:
            return "text of at most %d characters" % kind.max_length
    return None
