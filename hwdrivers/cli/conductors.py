"""``hwdrivers conductor list|show``: the conductors, their group, alive, nodes owned.

Through the API (``--url``) it shows ``GET /v1/conductors``; on the local
database it computes the same from the conductors table and the hash ring
(conductor/hash_ring.py), so an operator of a scaled-out deployment can look
from any machine that reaches PostgreSQL. ``show`` adds what Ironic's
``baremetal conductor show`` does: the hardware types and the timestamps.
"""

import datetime
import sys
import urllib.parse

from hwdrivers.common import exception

COLUMNS = ["hostname", "conductor_group", "alive", "owned_nodes"]
#: What ``conductor show`` prints, as ``GET /v1/conductors/<hostname>``.
SHOW_FIELDS = COLUMNS + ["drivers", "created_at", "updated_at"]


def _local_summaries(backend, hostname=None):
    """The rows ``GET /v1/conductors`` shows; with ``hostname``, its row alone
    (its group's nodes are the only ones counted)."""
    from hwdrivers.conductor import hash_ring
    left_out = {}
    rows = hash_ring.conductor_summaries(backend.manager.registry, hostname=hostname,
                                         left_out=left_out)
    if left_out:
        sys.stderr.write(
            "WARNING: owned_nodes leaves out %s: this configuration does not enable "
            "those hardware types, so it cannot tell which conductor owns them. Run it "
            "with a configuration that enables them, or through an API process (--url).\n"
            % ", ".join("%d node(s) of hardware type %s" % (count, kind)
                        for kind, count in sorted(left_out.items())))
    return rows


def conductor_list(args, backend):
    request = getattr(backend, "request", None)
    if request is not None:  # the HTTP backend
        docs = request("GET", "/v1/conductors")["conductors"]
    else:
        docs = _local_summaries(backend)
    rows = [{column: doc.get(column) for column in COLUMNS} for doc in docs]
    for row in rows:
        row["conductor_group"] = row["conductor_group"] or ""
    return rows, COLUMNS


def _local_doc(row):
    """A conductors row as the API shows it (``drivers``, times in UTC, ISO 8601)."""
    doc = dict(row, drivers=list(row.get("hardware_types") or []))
    for key in ("created_at", "updated_at"):
        if doc.get(key) is not None:
            doc[key] = doc[key].replace(tzinfo=datetime.UTC).isoformat()
    return doc


def conductor_show(args, backend):
    request = getattr(backend, "request", None)
    if request is not None:
        doc = request("GET", "/v1/conductors/%s" % urllib.parse.quote(args.hostname, safe=""))
    else:
        found = _local_summaries(backend, hostname=args.hostname)
        if not found:
            raise exception.ConductorNotFound(conductor=args.hostname)
        doc = _local_doc(found[0])
    shown = {field: doc.get(field) for field in SHOW_FIELDS}
    shown["conductor_group"] = shown["conductor_group"] or ""
    return shown


def register(top, fmt) -> None:
    """Add the ``conductor`` command group to the top-level subcommands."""
    conductor = top.add_parser("conductor", help="Conductor processes (scale-out).")
    sub = conductor.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("list", parents=[fmt],
                       help="Conductors: group, alive, nodes each owns on the hash ring.")
    p.set_defaults(func=conductor_list)
    p = sub.add_parser("show", parents=[fmt],
                       help="One conductor: group, alive, nodes owned, hardware types, "
                            "when it registered and last heartbeat.")
    p.add_argument("hostname", help="The conductor's [DEFAULT] host.")
    p.set_defaults(func=conductor_show)
