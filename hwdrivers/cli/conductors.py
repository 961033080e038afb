"""``hwdrivers conductor list``: the conductors, their group, alive, nodes owned.

Through the API (``--url``) it shows ``GET /v1/conductors``; on the local
database it computes the same from the conductors table and the hash ring
(conductor/hash_ring.py), so an operator of a scaled-out deployment can look
from any machine that reaches PostgreSQL.
"""

COLUMNS = ["hostname", "conductor_group", "alive", "owned_nodes"]


def conductor_list(args, backend):
    request = getattr(backend, "request", None)
    if request is not None:  # the HTTP backend
        docs = request("GET", "/v1/conductors")["conductors"]
    else:
        from hwdrivers.conductor import hash_ring
        docs = hash_ring.conductor_summaries(backend.manager.registry)
    rows = [{column: doc.get(column) for column in COLUMNS} for doc in docs]
    for row in rows:
        row["conductor_group"] = row["conductor_group"] or ""
    return rows, COLUMNS


def register(top, fmt) -> None:
    """Add the ``conductor`` command group to the top-level subcommands."""
    conductor = top.add_parser("conductor", help="Conductor processes (scale-out).")
    sub = conductor.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("list", parents=[fmt],
                       help="Conductors: group, alive, nodes each owns on the hash ring.")
    p.set_defaults(func=conductor_list)
