"""GET /v1/conductors at fleet size: this tree against an older one, interleaved.

The conductor list counted each conductor's nodes (``owned_nodes``) by
reading every whole node row and composing each node, on every call: 1.8 s
at 10,000 nodes. This measures the API request in process (Flask's test
client, no HTTP server) on one PostgreSQL schema holding N fake-hardware
nodes (half behind shared controllers, 20 nodes each, half with a BMC of
their own) and three live conductors:

* ``list``: ``GET /v1/conductors`` (what ``baremetal conductor list``
  sends; shows ``owned_nodes``);
* ``list --fields``: ``?fields=hostname,conductor_group,alive`` (counts
  nothing any more);
* ``show``: ``GET /v1/conductors/c1``.

Each tree runs in a fresh interpreter with the tree first on ``sys.path``
(``--before``, default /tmp/before: a copy of the code before the change,
e.g. ``git archive <commit> | tar -x -C /tmp/before``); runs alternate
before, after, before... and the table shows the median over runs of each
run's median call. A one-off comparison, not one of run_all.py's figures
(hence the leading underscore).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

QUERIES = (("list", "/v1/conductors"),
           ("list --fields", "/v1/conductors?fields=hostname,conductor_group,alive"),
           ("show", "/v1/conductors/c1"))

#: What each interpreter runs: argv = tree, database URL, calls per query.
CHILD = r"""
import json, os, sys, time
tree, url, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path[:0] = [tree]
from benchmarks import common
import hwdrivers
assert hwdrivers.__file__.startswith(os.path.join(tree, "")), hwdrivers.__file__
common.configure(database__connection=url, enabled_hardware_types=["fake-hardware"])
from hwdrivers.api import app as app_mod
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import workers as workers_mod


class Service:
    def __init__(self):
        self.manager = manager_mod.ConductorManager(workers=workers_mod.WorkerPool(2))


client = app_mod.create_app(Service()).test_client()
headers = {"X-OpenStack-Ironic-API-Version": "1.49"}
result = {}
for label, path in json.loads(sys.argv[4]):
    times = []
    for index in range(calls + 1):
        started = time.perf_counter()
        resp = client.get(path, headers=headers)
        elapsed = time.perf_counter() - started
        assert resp.status_code == 200, resp.get_data(as_text=True)
        if index:  # the first call warms up (imports, compositions)
            times.append(elapsed)
    body = resp.get_json()
    docs = body.get("conductors", [body])
    result[label] = [common.median(times), sum(d.get("owned_nodes") or 0 for d in docs)]
print("RESULT=" + json.dumps(result))
"""


def _driver_info(index):
    if index % 2:
        return {"fake_controller": "pdu-%d" % (index // 40), "fake_address": "10.1.%d.%d"
                % (index // 250, index % 250)}
    return {"fake_address": "10.0.%d.%d" % (index // 250, index % 250)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--calls", type=int, default=5, help="calls per query and run")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each tree")
    parser.add_argument("--before", default="/tmp/before", metavar="TREE")
    args = parser.parse_args(argv)
    trees = common.compared_trees(args.before)
    print("machine: %s" % (common.machine(),))
    common.configure(enabled_hardware_types=["fake-hardware"])
    from hwdrivers.db import api as db_api
    runs = {label: [] for label, _ in trees}
    with common.database("postgresql") as backend:
        if backend is None:
            return []
        common.bulk_create_nodes(args.nodes, driver_info=_driver_info)
        url = common.CONF.database.connection
        for _ in range(args.repeat):
            for label, tree in trees:  # interleaved: before, after, before...
                for host in ("c1", "c2", "c3"):  # alive for the whole run
                    db_api.register_conductor(host, ["fake-hardware"],
                                              rpc_url="http://%s:8089" % host)
                runs[label].append(common.run_child(CHILD, tree, url, args.calls,
                                                      json.dumps(QUERIES)))
    rows = []
    for name, _ in QUERIES:
        row = [name, args.nodes]
        for label, _ in trees:
            row.append(common.median([run[name][0] for run in runs[label]]) * 1000)
        if len(trees) == 2:
            row.append(row[2] / row[3] if row[3] else 0.0)
        row.append("/".join(str(runs[label][-1][name][1]) for label, _ in trees))
        rows.append(row)
    columns = ["query", "nodes"] + ["%s ms" % label for label, _ in trees]
    columns += (["before/after"] if len(trees) == 2 else [])
    columns.append("owned_nodes summed (%s)" % "/".join(label for label, _ in trees))
    common.print_table("GET /v1/conductors, in process, medians of %d runs x %d calls"
                       % (args.repeat, args.calls), columns, rows)
    print("load: %s" % (os.getloadavg(),))
    return rows


if __name__ == "__main__":
    main()
