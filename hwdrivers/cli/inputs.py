"""Parse ``key=value`` arguments and driver_info files, keeping secrets off argv.

A secret typed on the command line is visible to every user through the
process list, so ``KEY=-`` reads the value from standard input (or a
prompt on a terminal) and ``--driver-info-file`` reads a JSON object.
"""

import getpass
import json
import sys

from hwdrivers.common import exception


def parse_pairs(pairs, option):
    values = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise exception.InvalidParameterValue(
                "%s %r must look like KEY=VALUE" % (option, pair))
        if value == "-":
            value = (getpass.getpass("%s: " % key) if sys.stdin.isatty()
                     else sys.stdin.readline().rstrip("\n"))
        values[key.strip()] = value
    return values


def read_driver_info_file(path):
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise exception.InvalidParameterValue(
            "--driver-info-file %s cannot be read: %s" % (path, exc.strerror))
    except ValueError as exc:
        raise exception.InvalidParameterValue(
            "--driver-info-file %s is not valid JSON: %s" % (path, exc))
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
