"""Render results as a table (people) or JSON (scripts).

JSON output is standard JSON even for rows stored before the API refused
NaN and lone surrogates (``json_values.repaired``): a script's parser
(jq) must not fail on one old node.
"""

import json
import sys

from hwdrivers.common import json_values


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def table(rows, columns, stream=None):
    stream = stream or sys.stdout
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def row_line(values):
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |\n"

    stream.write(line + "\n" + row_line(columns) + line + "\n")
    for r in cells:
        stream.write(row_line(r))
    stream.write(line + "\n")


def emit(result, fmt, columns=None, stream=None):
    """Print a dict (as Field/Value) or a list of dicts (as rows)."""
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(json.dumps(json_values.repaired(result), indent=2, sort_keys=True,
                                default=str) + "\n")
        return
    if result is None:
        return
    if isinstance(result, list):
        columns = columns or (sorted(result[0]) if result else ["result"])
        table(result, columns, stream)
    elif isinstance(result, dict):
        keys = columns or sorted(result)
        table([{"Field": k, "Value": result.get(k)} for k in keys], ["Field", "Value"], stream)
    else:
        stream.write("%s\n" % result)
