"""Render results as a table (people), JSON or bare values (scripts).

JSON output is standard JSON even for rows stored before the API refused
NaN and lone surrogates (``json_values.repaired``): a script's parser
(jq) must not fail on one old node.
"""

import datetime
import json
import re
import sys

from hwdrivers.common import exception
from hwdrivers.common import json_values

#: What a table cell shows escaped: control characters but the newline (an
#: escape sequence in a node's extra or last_error would drive the reader's
#: terminal: retitle it, hide text, rewrite lines) and lone surrogates
#: (from rows stored before the API refused them), which stdout cannot encode.
_UNSHOWABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _escaped(match):
    code = ord(match.group())
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def printable(text):
    """``text`` with control characters but the newline (and lone surrogates)
    escaped: an error a BMC or a tool wrote may carry escape sequences, which
    must not drive the operator's terminal."""
    return _UNSHOWABLE.sub(_escaped, text)


def _cell(value):
    """A cell's lines: a value with newlines (a maintenance reason, an error
    with the tool's output) spans several lines inside its cell, instead of
    breaking the table's rows and borders."""
    if value is None:
        return [""]
    if isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = str(value)
    return _UNSHOWABLE.sub(_escaped, text).split("\n")


def table(rows, columns, stream=None):
    stream = stream or sys.stdout
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(line) for r in cells for line in r[i]])
              for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def row_lines(values):
        height = max(len(v) for v in values)
        return "".join(
            "| " + " | ".join((v[n] if n < len(v) else "").ljust(w)
                              for v, w in zip(values, widths)) + " |\n"
            for n in range(height))

    stream.write(line + "\n" + row_lines([[c] for c in columns]) + line + "\n")
    for r in cells:
        stream.write(row_lines(r))
    stream.write(line + "\n")


#: The formats that print a command's whole document, not its table's rows.
DOCUMENTS = ("json", "yaml")


class OutputFailed(exception.HWDriversError):
    """Standard output could not be written: a full disk, a closed descriptor.

    ``hwdrivers node list -f json > nodes.json`` on a full file system ended
    in an OSError traceback, or, with less output than the buffer holds,
    in "Exception ignored" and exit status 120 at the interpreter's exit.
    """


def writing(func, *args, **kwargs):
    """``func(*args, **kwargs)``, its OSError on the output as :class:`OutputFailed`.

    BrokenPipeError goes through: a reader that left (``| head``) is no error.
    """
    try:
        return func(*args, **kwargs)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputFailed("cannot write the output: %s" % (exc.strerror or exc)) from None


def flush():
    """Write what standard output still buffers, failing as :func:`emit` does."""
    if sys.stdout is not None:
        writing(sys.stdout.flush)


def emit(result, fmt, columns=None, stream=None):
    """Print a dict (as Field/Value) or a list of dicts (as rows)."""
    stream = stream or sys.stdout
    if stream is None:
        raise OutputFailed("standard output is closed: give the command somewhere to "
                           "write, e.g. > /dev/null")
    writing(_emit, result, fmt, columns, stream)


def _json_default(value):
    """A datetime as ISO 8601 in UTC, as Ironic's API and ``baremetal -f json``
    write it; the database's naive UTC times were printed with neither the
    ``T`` nor an offset, which a script then read as its local time."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC).isoformat()
    return str(value)


def select(result, wanted, columns=None):
    """``(result, columns)`` narrowed to the ``wanted`` columns (``-c``), in that order.

    Rows keep only those keys (JSON too), a single object only those
    fields. A column no row has is refused, naming those there are.
    """
    if not wanted or result is None:
        return result, columns
    wanted = list(dict.fromkeys(wanted))
    if isinstance(result, dict):
        known = list(result)
    elif isinstance(result, list) and result:
        known = list(dict.fromkeys(list(columns or ()) + [k for r in result for k in r]))
    else:  # no row to tell what columns there are: the header says what was asked
        return result, wanted if isinstance(result, list) else columns
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise exception.InvalidParameterValue(
            "-c/--column %s: no such column here; choose from: %s"
            % (", ".join(unknown), ", ".join(sorted(known)) or "(none)"))
    if isinstance(result, dict):
        return {c: result.get(c) for c in wanted}, wanted
    return [{c: row.get(c) for c in wanted} for row in result], wanted


def _value(value):
    """A value as ``-f value`` prints it: text as is (controls escaped), others as JSON.

    A newline is written ``\\n``: ``-f value`` promises a row a line, and a
    multi-line maintenance reason or last_error (a tool's output) made
    ``while read name reason`` read its second line as another node's row.
    """
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        text = json.dumps(json_values.repaired(value), sort_keys=True, default=str)
    else:
        text = str(value)
    return _UNSHOWABLE.sub(_escaped, text).replace("\n", "\\n")


def _emit(result, fmt, columns, stream):
    if fmt == "json":
        stream.write(json.dumps(json_values.repaired(result), indent=2, sort_keys=True,
                                default=_json_default) + "\n")
        return
    if fmt == "yaml":
        # The JSON document, as YAML (baremetal's -f yaml): the same values,
        # times as ISO 8601 text. PyYAML comes with oslo.config; imported
        # only here, as no other command needs it.
        import yaml
        plain = json.loads(json.dumps(json_values.repaired(result), default=_json_default))
        stream.write(yaml.safe_dump(plain, default_flow_style=False, sort_keys=True,
                                    allow_unicode=True))
        return
    if result is None:
        return
    if fmt == "value":
        # baremetal's -f value: no header, one row a line, values apart by a
        # space; an object's values one a line. For ``cut``, ``read``, ``xargs``.
        if isinstance(result, list):
            columns = columns or (sorted(result[0]) if result else [])
            lines = [" ".join(_value(row.get(c)) for c in columns) for row in result]
        elif isinstance(result, dict):
            lines = [_value(result.get(k)) for k in (columns or sorted(result))]
        else:
            lines = [_value(result)]
        stream.write("".join(line + "\n" for line in lines))
        return
    if isinstance(result, list):
        columns = columns or (sorted(result[0]) if result else ["result"])
        table(result, columns, stream)
    elif isinstance(result, dict):
        keys = columns or sorted(result)
        table([{"Field": k, "Value": result.get(k)} for k in keys], ["Field", "Value"], stream)
    else:
        stream.write("%s\n" % result)
