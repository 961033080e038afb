"""Parse ``key=value`` arguments and driver_info files, keeping secrets off argv.

A secret typed on the command line is visible to every user through the
process list, so ``KEY=-`` reads the value from standard input (or a
prompt on a terminal) and ``--driver-info-file`` reads a JSON object.
Standard input is read one line per reader, in order: the API password
first (``--password-stdin``), then one line per ``KEY=-`` field. A reader
that finds no line left is an error naming it, never an empty value
(which would store an empty BMC password and exit 0).

What is read here is stored in JSON columns, locally without the API's
checks: so it is held to the same rule (:mod:`hwdrivers.common.json_values`),
no NaN, Infinity or overflowing number, and only real text -- an argument
whose bytes are not UTF-8 reaches Python as surrogates, which would make
the node's listing invalid JSON.
"""

import getpass
import math
import sys

from hwdrivers.common import exception
from hwdrivers.common import json_values


#: The node field each pair option fills, to name a field in messages.
_FIELDS = {"--driver-info": "driver_info", "--property": "properties", "--extra": "extra"}

#: What took each line of standard input so far, in order (see stdin_line).
_stdin_readers = []


def forget_stdin():
    """Start counting standard input's lines afresh (one command, one count)."""
    del _stdin_readers[:]


def stdin_line(what):
    """The next line of standard input, without its newline, for ``what``; None at its end.

    An empty line is an empty value, given on purpose; no line at all is
    None, so the caller can say what is missing instead of using "". A
    line ending ``\r\n`` (a file saved on Windows) loses both, as ``docker
    login --password-stdin`` does: a password kept with its ``\r`` fails
    as a wrong one, with nothing on screen to show why.
    """
    # A closed standard input (``<&-``) is None: no line, as an empty one.
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        return None
    _stdin_readers.append(what)
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith("\n") else line


def stdin_is_terminal():
    """Whether standard input is a terminal to prompt on (not closed, not a pipe)."""
    return sys.stdin is not None and sys.stdin.isatty()


def _stdin_value(option, key):
    what = "%s %s" % (_FIELDS.get(option, option), key)
    value = stdin_line(what)
    if value is None:
        taken = ("; the lines given went to: %s" % ", ".join(_stdin_readers)
                 if _stdin_readers else "")
        raise exception.InvalidParameterValue(
            "no line left on standard input for %s: give one line per KEY=- field, "
            "in order%s" % (what, taken))
    return value


def _prompt(option, key):
    """The value typed at a prompt; Ctrl-D (end of input) is refused like a missing line."""
    try:
        return getpass.getpass("%s: " % key)
    except EOFError:
        raise exception.InvalidParameterValue(
            "no value typed for %s %s (end of input at the prompt)"
            % (_FIELDS.get(option, option), key)) from None


def parse_pairs(pairs, option):
    values = {}
    pairs = list(pairs or ())
    for number, pair in enumerate(pairs, 1):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            if option == "--driver-info":
                # Never the argument: 'ipmi_password:hunter2' holds a password,
                # and so may a word given alone.
                raise exception.InvalidParameterValue(
                    "--driver-info number %d (of %d) must look like KEY=VALUE; it is "
                    "not shown, as it may hold a secret" % (number, len(pairs)))
            raise exception.InvalidParameterValue(
                "%s %r must look like KEY=VALUE" % (option, pair))
        if value == "-":
            value = (_prompt(option, key.strip()) if stdin_is_terminal()
                     else _stdin_value(option, key.strip()))
        key = _text(key.strip(), "a %s key" % option)
        values[key] = _text(value, "%s %s: the value" % (option, key))
    return values


def check_text(text, where):
    """``text`` when it is real text; else a message naming ``where`` (never the value)."""
    try:
        return json_values.check_text(text, "")
    except json_values.JSONValueError as exc:
        raise exception.InvalidParameterValue(exc.describe(where, "pass")) from None


_text = check_text


def read_driver_info_file(path):
    if not path:
        return {}
    try:
        with open(path, "rb") as handle:
            data = json_values.loads(handle.read())
    except OSError as exc:
        raise exception.InvalidParameterValue(
            "--driver-info-file %s cannot be read: %s" % (path, exc.strerror))
    except json_values.JSONValueError as exc:
        raise exception.InvalidParameterValue(
            "--driver-info-file %s: %s" % (path, exc.describe("the file", "write")))
    except ValueError as exc:
        raise exception.InvalidParameterValue(
            "--driver-info-file %s is not valid JSON: %s" % (path, exc))
    except RecursionError:  # a traceback before; the API refuses past 32 levels
        raise exception.InvalidParameterValue(
            "--driver-info-file %s nests arrays or objects too deep to read; it must "
            "hold a JSON object of field: value" % path) from None
    if not isinstance(data, dict):
        raise exception.InvalidParameterValue(
            "--driver-info-file %s must hold a JSON object of field: value" % path)
    return data


def driver_info(args):
    """Merge ``--driver-info-file`` then ``--driver-info`` pairs (pairs win)."""
    info = read_driver_info_file(getattr(args, "driver_info_file", None))
    info.update(parse_pairs(getattr(args, "driver_info", None), "--driver-info"))
    return info


def warn_inline_secrets(pairs, secret_names, stream=None):
    """Warn when a secret was typed on the command line."""
    stream = stream or sys.stderr
    for pair in pairs or ():
        key, _, value = pair.partition("=")
        if key.strip() in secret_names and value != "-":
            stream.write("WARNING: %s given on the command line is visible in the process "
                         "list; use --driver-info %s=- or --driver-info-file\n"
                         % (key.strip(), key.strip()))


def check_seconds(value, option):
    """``value`` (a float from argparse, or None) when it is a finite number above 0.

    ``--power-timeout nan`` or ``inf`` ended over --url in a ValueError or
    OverflowError traceback (the API takes whole seconds), and ``nan``
    made a wait endless; ``--wait-timeout -1`` gave up at once, saying the
    action was "still in progress after -1 s".
    """
    if value is not None and not (math.isfinite(value) and value > 0):
        raise exception.InvalidParameterValue(
            "%s %g: the timeout must be a positive number of seconds (e.g. %s 300); "
            "leave it out for the default" % (option, value, option))
    return value
