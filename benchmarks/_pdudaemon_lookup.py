"""PDUDaemon's ``hostname=&port=`` lookup at fleet size: this tree against an older one.

The listener found the node behind an outlet by reading every whole node
row (five JSON documents each, driver_info secrets opened) on every
request. This measures ``Listener.find_node`` in process on one SQLite
file (the embedded default) holding N nodes: half snmp nodes, 24 outlets
per PDU, each with a sealed ``snmp_community``; half fake-hardware nodes
with BMC addresses. Each call looks up one outlet (a different one each
time) as a PDUDaemon request does.

Each tree runs in a fresh interpreter with the tree first on ``sys.path``
(``--before``, default /tmp/before: ``git archive <commit> | tar -x -C
/tmp/before``); runs alternate before, after, before... and the table
shows the median over runs of each run's median call. A one-off
comparison, not one of run_all.py's figures (hence the leading underscore).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

HARDWARE = ["snmp", "fake-hardware"]

#: What each interpreter runs: argv = tree, state path, database URL, calls, PDUs.
CHILD = r"""
import json, os, sys, time
tree, state, url, calls, pdus = sys.argv[1:6]
sys.path[:0] = [tree]
from benchmarks import common
import hwdrivers
assert hwdrivers.__file__.startswith(os.path.join(tree, "")), hwdrivers.__file__
common.configure(state_path=state, database__connection=url,
                 enabled_hardware_types=%r, enabled_power_interfaces=["snmp", "fake"])
from hwdrivers.api import pdudaemon
from hwdrivers.common import context
from hwdrivers.conductor import manager as manager_mod


class Service:
    manager = manager_mod.ConductorManager()


listener = pdudaemon.Listener(Service(), common.CONF)
ctx = context.get_admin_context()
times = []
for index in range(int(calls) + 1):
    selector = {"hostname": "pdu-%%d.lab" %% (index %% int(pdus)), "port": 1 + index %% 24}
    started = time.perf_counter()
    node = listener.find_node(ctx, selector)
    elapsed = time.perf_counter() - started
    assert node.driver_info["snmp_outlet"] == selector["port"], node.driver_info
    if index:  # the first call warms up (imports, compositions, key file)
        times.append(elapsed)
print("RESULT=" + json.dumps(common.median(times)))
""" % (HARDWARE,)


def _driver_info(index):
    if index % 2:
        return {"fake_address": "10.0.%d.%d" % (index // 500, index // 2 % 250)}
    outlet = index // 2
    return {"snmp_address": "pdu-%d.lab" % (outlet // 24), "snmp_outlet": 1 + outlet % 24,
            "snmp_driver": "apc", "snmp_community": "private-%d" % (outlet // 24)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--calls", type=int, default=10, help="lookups per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tree")
    parser.add_argument("--before", default="/tmp/before", metavar="TREE")
    args = parser.parse_args(argv)
    trees = common.compared_trees(args.before)
    print("machine: %s" % (common.machine(),))
    common.configure(enabled_hardware_types=HARDWARE,
                     enabled_power_interfaces=["snmp", "fake"])
    from hwdrivers.db import api as db_api
    from hwdrivers.drivers import factory
    runs = {label: [] for label, _ in trees}
    with common.database("sqlite"):
        factory.get_registry()  # declares snmp_community secret: sealed below

        def sealed_info(index):
            return db_api._seal({"driver_info": _driver_info(index)})["driver_info"]

        common.bulk_create_nodes(args.nodes, driver_info=sealed_info,
                                 driver=lambda index: "fake-hardware" if index % 2 else "snmp")
        url = common.CONF.database.connection
        pdus = (args.nodes + 1) // 2 // 24
        for _ in range(args.repeat):
            for label, tree in trees:  # interleaved: before, after, before...
                runs[label].append(common.run_child(CHILD, tree, common.CONF.state_path, url,
                                                      args.calls, pdus))
    row = ["find_node (hostname, port)", args.nodes]
    row += [common.median(runs[label]) * 1000 for label, _ in trees]
    if len(trees) == 2:
        row.append(row[2] / row[3] if row[3] else 0.0)
    columns = ["lookup", "nodes"] + ["%s ms" % label for label, _ in trees]
    columns += ["before/after"] if len(trees) == 2 else []
    common.print_table("PDUDaemon outlet lookup on SQLite, medians of %d runs x %d calls"
                       % (args.repeat, args.calls), columns, [row])
    print("load: %s" % (os.getloadavg(),))
    return [row]


if __name__ == "__main__":
    main()
