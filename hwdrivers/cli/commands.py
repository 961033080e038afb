"""The commands of ``hwdrivers``: arguments in, backend call, output out."""

import argparse
import sys

from hwdrivers.cli import bulk
from hwdrivers.cli import console as console_cli
from hwdrivers.cli import conductors as conductors_cli
from hwdrivers.cli import deploy as deploy_cli
from hwdrivers.cli import inputs
from hwdrivers.cli import oneshot
from hwdrivers.cli import output
from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.common import node_secrets
from hwdrivers.common import states as node_states
from hwdrivers.conductor import unknown_driver_info

NODE_COLUMNS = ["uuid", "name", "driver", "power_state", "provision_state", "maintenance"]
SHOW_FIELDS = None  # all

POWER_TARGETS = {"on": "power on", "off": "power off", "reboot": "rebooting"}
SOFT_TARGETS = {"off": "soft power off", "reboot": "soft rebooting"}


def _format_parent():
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-f", "--format", choices=("table", "json", "yaml", "value"),
                        default=argparse.SUPPRESS,
                        help="Output format (default: table). yaml: the JSON document "
                             "as YAML. value: no header, a row a line, its values apart "
                             "by a space (an object: a value a line), as 'baremetal -f "
                             "value'; a newline inside a value is written \\n.")
    parent.add_argument("-c", "--column", dest="columns", action="append",
                        metavar="COLUMN", default=argparse.SUPPRESS,
                        help="Show only this column (or field); repeat for more, in "
                             "the order wanted, e.g. -c name -c power_state.")
    return parent


def _add_interface_options(parser):
    for kind in interface_types.ALL:
        parser.add_argument("--%s-interface" % kind, dest="%s_interface" % kind,
                            metavar="NAME", help="The node's %s interface." % kind)


def _add_conductor_group_option(parser):
    parser.add_argument("--conductor-group", metavar="GROUP",
                        help="The conductor group whose conductors drive the node "
                             "(case-insensitive; \"\" is the default group).")


def _add_driver_info_options(parser):
    parser.add_argument("--driver-info", action="append", metavar="KEY=VALUE",
                        help="A driver_info field; repeat for more. KEY=- reads the "
                             "value from stdin (use it for secrets).")
    parser.add_argument("--driver-info-file", metavar="FILE",
                        help="A JSON object of driver_info fields.")


def _add_verbose_option(parser):
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: log each retry of a failing controller (local "
                             "database); -vv: and the driver's debug lines.")


# -- node ------------------------------------------------------------------------

def node_create(args, backend):
    values = {"driver": args.driver}
    if args.name is not None:  # an empty --name is refused by the check, not dropped
        values["name"] = args.name
    if args.uuid:
        values["uuid"] = args.uuid
    values["driver_info"] = inputs.driver_info(args)
    for field, option in (("properties", "--property"), ("extra", "--extra")):
        pairs = inputs.parse_pairs(getattr(args, field), option)
        if pairs:
            values[field] = pairs
    for kind in interface_types.ALL:
        value = getattr(args, "%s_interface" % kind)
        if value:
            values["%s_interface" % kind] = value
    if args.conductor_group is not None:
        values["conductor_group"] = args.conductor_group
    return _warned(args, backend.node_create(values))


def _warned(args, node):
    """``node``, after warning of each secret typed on the command line.

    The one-shot commands warned and ``node create``/``set`` did not, though
    the password then sits in ps and the shell's history as well. The
    fields the answer masks are the driver's secrets, on either backend.
    """
    shown = (node or {}).get("driver_info") or {}
    inputs.warn_inline_secrets(
        args.driver_info, {key for key, value in shown.items() if value == node_secrets.MASK})
    return node


def node_list(args, backend):
    _check_selection(args)
    filters = {}
    if args.driver:
        filters["driver"] = args.driver
    if args.maintenance is not None:
        filters["maintenance"] = args.maintenance
    if args.provision_state:
        # Locally a state no node can be in listed nothing, where the API
        # answers 400: both refuse it here, naming the states there are.
        known = [state.value for state in node_states.ProvisionState]
        if args.provision_state not in known:
            raise exception.InvalidParameterValue(
                "--provision-state %r is not a provision state; use one of: %s"
                % (args.provision_state, ", ".join(known)))
        filters["provision_state"] = args.provision_state
    nodes = backend.node_list(filters, limit=args.limit)
    return nodes, (None if args.long else NODE_COLUMNS)


def node_show(args, backend):
    return backend.node_show(args.node)


def node_set(args, backend):
    set_values = {}
    # "is not None": an empty --name or --driver is a value to check, not "no change".
    if args.name is not None:
        set_values["name"] = args.name
    if args.driver is not None:
        set_values["driver"] = args.driver
    for key, value in inputs.driver_info(args).items():
        set_values["driver_info/%s" % key] = value
    for key, value in inputs.parse_pairs(args.property, "--property").items():
        set_values["properties/%s" % key] = value
    for key, value in inputs.parse_pairs(args.extra, "--extra").items():
        set_values["extra/%s" % key] = value
    for kind in interface_types.ALL:
        value = getattr(args, "%s_interface" % kind)
        if value is not None:
            set_values["%s_interface" % kind] = value
    if args.conductor_group is not None:
        set_values["conductor_group"] = args.conductor_group
    return _warned(args, backend.node_update(args.node, set_values, []))


def node_unset(args, backend):
    for key in args.driver_info or ():
        if "=" in key:
            # 'unset --driver-info ipmi_password=hunter2' (meant as set) was
            # refused with the whole argument, the password, in the message.
            raise exception.InvalidParameterValue(
                "node unset --driver-info takes a KEY alone: 'unset --driver-info %s' "
                "removes the field, 'set --driver-info %s=VALUE' changes it (the value "
                "given is not shown: it may be a secret)"
                % (key.partition("=")[0], key.partition("=")[0]))
    unset = []
    if args.name:
        unset.append("name")
    unset.extend("driver_info/%s" % k for k in args.driver_info or ())
    unset.extend("properties/%s" % k for k in args.property or ())
    unset.extend("extra/%s" % k for k in args.extra or ())
    for kind in interface_types.ALL:
        if getattr(args, "%s_interface" % kind):
            unset.append("%s_interface" % kind)
    # No group is the default group, "", as the API's unset makes it.
    set_values = {"conductor_group": ""} if args.conductor_group else {}
    return backend.node_update(args.node, set_values, unset)


def node_delete(args, backend):
    """Delete the nodes named; with several, try every one and report each.

    An operator deleting a list means the whole list, as with Ironic's
    ``baremetal node delete a b c``: stopping at the first node that fails
    left the rest in place, unmentioned. Checking first that every node
    exists would not make it all-or-nothing either (a node can still be
    refused, active or locked, after the check), so each node is tried in
    the order given and its outcome reported as the bulk commands do: one
    line per node on stderr, the failures in a table, exit status 1 if any
    failed. One node keeps its one-line error.
    """
    if len(args.nodes) == 1:
        backend.node_delete(args.nodes[0])
        return None
    idents = bulk.one_per_node(backend, args.nodes)

    def delete(ident):
        backend.node_delete(ident)
        return "deleted"

    results = _bulk_run(backend, idents, delete, "delete", parallel=1)
    return None, None, results


def node_validate(args, backend):
    result = backend.node_validate(args.node)
    rows = [{"Interface": kind, "Result": value["result"], "Reason": value["reason"]}
            for kind, value in sorted(result.items())]
    return rows, ["Interface", "Result", "Reason"], result


#: What the table shows for a node whose power state was never read: it is
#: read when the node is managed (``node manage``), by a power action, and
#: by the server's periodic sync.
NOT_READ = "unknown (not read yet)"


def _power_view(result):
    """(table rows, columns, JSON data): JSON keeps null, the table says why."""
    shown = dict(result)
    if shown.get("power_state") is None:
        shown["power_state"] = NOT_READ
    return shown, None, result


def _bulk_selected(args):
    return bool(args.all or args.name_glob or args.file)


#: What each option choosing nodes takes, for the message refusing it empty.
_SELECTION_VALUES = {"driver": "a hardware type, e.g. --driver ipmi",
                     "name_glob": "a pattern, e.g. --name-glob 'rack1-*'",
                     "file": "a file of node names or UUIDs, one a line (- reads them "
                             "from standard input)"}


def _check_selection(args):
    """Refuse an option choosing nodes given empty: an unset shell variable.

    ``--driver ""`` was read as no --driver, so ``node power off --all
    --driver "$DRIVER"`` with $DRIVER unset powered off every node of every
    driver; an empty --name-glob or --file was "give a NODE, or choose nodes
    with ... --name-glob", though one was given.
    """
    for dest, wanted in _SELECTION_VALUES.items():
        if getattr(args, dest, None) == "":
            option = "--" + dest.replace("_", "-")
            raise exception.InvalidParameterValue(
                "%s is empty (an unset shell variable?): give %s, or leave %s out"
                % (option, wanted, option))


def node_power(args, backend):
    _check_selection(args)
    target = None
    if args.action == "status" and (args.soft or args.power_timeout is not None):
        raise SystemExit("error: --soft and --power-timeout apply to a power change, not "
                         "to 'power status'")
    if args.action != "status":
        target = (SOFT_TARGETS if args.soft else POWER_TARGETS).get(args.action)
        if target is None:
            raise SystemExit("error: --soft is not valid with 'power %s'" % args.action)
    if args.node and _bulk_selected(args):
        raise SystemExit("error: give a NODE or --all/--name-glob/--file, not both")
    if not args.node:
        if args.action == "status":
            raise SystemExit("error: power status takes one NODE; 'hwdrivers node list' "
                             "shows the power state of many")
        return _node_power_bulk(args, backend, target)
    if args.driver:
        raise SystemExit("error: --driver selects nodes with --all/--name-glob/--file")
    if args.parallel is not None:
        raise SystemExit("error: --parallel applies to many nodes (--all/--name-glob/"
                         "--file), not to one NODE")
    inputs.check_seconds(args.power_timeout, "--power-timeout")
    if args.action == "status":
        return _power_view(backend.node_power_status(args.node))
    return _power_view(backend.node_power(args.node, target, timeout=args.power_timeout))


def _node_power_bulk(args, backend, target):
    inputs.check_seconds(args.power_timeout, "--power-timeout")
    idents = bulk.select(backend, all_nodes=args.all, driver=args.driver,
                         name_glob=args.name_glob, path=args.file)
    results = _bulk_run(
        backend, idents,
        lambda ident: backend.node_power(ident, target, timeout=args.power_timeout),
        "power %s" % args.action,
        parallel=bulk.DEFAULT_PARALLEL if args.parallel is None else args.parallel)
    rows = [{"node": r["node"], "power_state": r["result"]} for r in results]
    return rows, ["node", "power_state"], results


def _bulk_run(backend, idents, action, label, parallel):
    """:func:`bulk.run`, told what Ctrl-C does to the nodes in flight; every
    node's entry, or :class:`_BulkReport` when any failed.

    Locally they run in this process and hold the nodes' locks: they are
    waited for. Over HTTP the server runs them whatever this process does:
    they are left to it, and their entry says where to look.
    """
    local = getattr(backend, "runs_actions_here", False)
    if local:
        abandoned = ("interrupted while in progress: a second Ctrl-C stopped the wait; "
                     "its lock was released and its target cleared, but the action may "
                     "or may not have reached the hardware: check it with 'hwdrivers "
                     "node power status'")
    else:
        abandoned = ("interrupted while in progress: the server carries on; check "
                     "the node with 'hwdrivers node show'")
    try:
        results = bulk.run(idents, action, label, parallel=parallel,
                           finish_in_flight=local, abandoned_error=abandoned)
    except bulk.Interrupted as interrupted:
        if local and any(r["result"] == bulk.ABANDONED for r in interrupted.results):
            _abandon(backend, interrupted.results)
        raise
    failures = [r for r in results if r["error"]]
    if failures:
        raise _BulkReport(failures, results)
    return results


def _abandon(backend, results):
    """Release the nodes whose local actions die with this process; else say so.

    Their threads stop when the process exits, and no conductor ever
    recovers a CLI's leases: left alone, the nodes would stay locked, their
    targets shown, until the leases expired.
    """
    try:
        backend.abandon_in_flight()
    except Exception as exc:  # whatever it was, the report still prints
        for entry in results:
            if entry["result"] == bulk.ABANDONED:
                entry["error"] = (
                    "interrupted while in progress: a second Ctrl-C stopped the wait, "
                    "and releasing its lock failed (%s): the node may stay locked, its "
                    "target shown, for up to [conductor] lease_duration; check it with "
                    "'hwdrivers node show'" % exc)


def _at_least_one(option, most=None):
    """An argparse type: a whole number from 1 (to ``most``), or an error naming ``option``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < 1 or (most is not None and value > most):
            raise argparse.ArgumentTypeError(
                "%s takes a whole number of nodes, 1 or more%s (e.g. %s 4); got %r"
                % (option, " and at most %d" % most if most else "", option, text))
        return value
    return parse


def _limit(text):
    """``--limit``: a whole number, 0 or more; 0 is no limit, None as well.

    ``--limit 0`` listed no node locally and every node over --url (the
    API reads limit=0 as no limit, as Ironic does).
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            "takes a whole number of nodes, 0 (all) or more; got %r" % text)
    return value or None


class _BulkReport(Exception):
    """Carries a bulk action's failures to :func:`run`, which prints then fails."""

    def __init__(self, failures, results):
        super().__init__("%d failed" % len(failures))
        self.failures = failures
        self.results = results


def node_maintenance(args, backend):
    if args.action == "set":
        return backend.node_maintenance(args.node, True, reason=args.reason)
    if args.reason:
        raise SystemExit("error: --reason is only for 'maintenance set'")
    return backend.node_maintenance(args.node, False)


def node_provision(args, backend):
    """manage / provide / abort; waits until the node settles, like power."""
    inputs.check_seconds(args.wait_timeout, "--wait-timeout")
    states = backend.node_provision(args.node, args.command, timeout=args.wait_timeout)
    return _power_view(states)


#: The columns of ``node history`` (``--long`` adds conductor, user and uuid).
HISTORY_COLUMNS = ["created_at", "severity", "event_type", "event"]


def node_history(args, backend):
    """The events the conductor recorded for a node, oldest first.

    Each error put in last_error, each provision state reached and each
    maintenance change (``[conductor] node_history``); successful power
    changes are not events.
    """
    events = backend.node_history(args.node)
    columns = HISTORY_COLUMNS + (["conductor", "user", "uuid"] if args.long else [])
    return events, columns, events


def node_boot_device(args, backend):
    """``set`` or ``show``; what belongs to the other is refused, never ignored.

    ``node boot-device show web1 pxe`` (meant as set) printed the current
    device and exited 0, so it read as done, as the one-shot command once
    did; ``set ... --supported`` set the device and dropped the option.
    """
    if args.action == "show" and (args.device or args.persistent):
        raise exception.InvalidParameterValue(
            "boot-device show takes no DEVICE or --persistent: to set one, run "
            "'hwdrivers node boot-device set %s %s%s'" % (
                args.node, args.device or "DEVICE", " --persistent" if args.persistent
                else ""))
    if args.action == "set" and args.supported:
        raise exception.InvalidParameterValue(
            "--supported is for 'hwdrivers node boot-device show %s --supported'"
            % args.node)
    if args.action == "set":
        backend.node_boot_device_set(args.node, args.device, args.persistent)
        return backend.node_boot_device_show(args.node)
    if args.supported:
        return backend.node_boot_device_supported(args.node)
    return backend.node_boot_device_show(args.node)


def node_sensors(args, backend):
    return backend.node_sensors(args.node)


def node_inject_nmi(args, backend):
    backend.node_inject_nmi(args.node)
    return None


# -- driver ------------------------------------------------------------------------

def driver_list(args, backend):
    rows = [{"name": d["name"], "description": d["description"]} for d in backend.driver_list()]
    return rows, ["name", "description"]


def driver_show(args, backend):
    return backend.driver_show(args.name)


def driver_properties(args, backend):
    props = backend.driver_properties(args.name)
    rows = []
    for kind, fields in sorted(props.items()):
        for field in fields:
            rows.append({"interface": kind, "name": field["name"],
                         "required": "required" if field["required"] else "optional",
                         "secret": "secret" if field["secret"] else "",
                         "type": field["type"], "default": field["default"],
                         "description": field["description"]})
    return rows, ["interface", "name", "required", "secret", "type", "default",
                  "description"], props


# -- one-shot (no database) ------------------------------------------------------------

def oneshot_power(args, backend):
    info = inputs.driver_info(args)
    task = oneshot.make_task(args, info)
    unknown_driver_info.check(task.driver.schema_for(info), info)
    inputs.warn_inline_secrets(args.driver_info, task.driver.schema.secret_names)
    return oneshot.power(task, args.action, soft=args.soft, timeout=args.power_timeout)


def oneshot_boot_device(args, backend):
    info = inputs.driver_info(args)
    task = oneshot.make_task(args, info)
    unknown_driver_info.check(task.driver.schema_for(info), info)
    inputs.warn_inline_secrets(args.driver_info, task.driver.schema.secret_names)
    return oneshot.boot_device(task, args.action, device=args.device, persistent=args.persistent)


# -- parser ------------------------------------------------------------------------------

class _Version(argparse.Action):
    """``--version``: the installed package's version, read only when asked
    (importlib.metadata costs every other command's start-up)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="Show hwdrivers' version and exit.")

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib import metadata
        try:
            version = metadata.version("hwdrivers")
        except metadata.PackageNotFoundError:
            version = "(unknown: the package is not installed)"
        sys.stdout.write("hwdrivers %s\n" % version)  # stdout, as argparse's own
        parser.exit()


def build_parser():
    fmt = _format_parent()
    parser = argparse.ArgumentParser(
        prog="hwdrivers", parents=[fmt],
        description="Control bare-metal machines through their BMCs, PDUs and hosts.")
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--config-file", action="append", metavar="PATH",
                        help="Configuration file (repeatable). Default: hwdrivers' "
                             "standard locations, e.g. /etc/hwdrivers/hwdrivers.conf.")
    remote = parser.add_argument_group(
        "remote API", "Drive a running hwdrivers-server instead of the local database.")
    remote.add_argument("--url", metavar="URL",
                        help="hwdrivers-server's API, e.g. http://127.0.0.1:6385 "
                             "(default: $HWDRIVERS_URL; unset: the local database).")
    remote.add_argument("--username", metavar="USER",
                        help="API user when the server uses [api] auth_strategy = "
                             "http_basic (default: $HWDRIVERS_USERNAME). The password "
                             "comes from $HWDRIVERS_PASSWORD, --password-stdin or a "
                             "prompt; it is never an argument, where every user of "
                             "the machine could read it.")
    remote.add_argument("--password-stdin", action="store_true",
                        help="Read the API password from the first line of stdin "
                             "(before any --driver-info KEY=- values).")
    top = parser.add_subparsers(dest="group")
    top.required = True

    node = top.add_parser("node", help="Enrolled nodes (stored in the database).")
    nsub = node.add_subparsers(dest="command", metavar="COMMAND")
    nsub.required = True

    p = nsub.add_parser("create", parents=[fmt], help="Enroll a node.")
    p.add_argument("--driver", required=True, help="Hardware type, e.g. fake-hardware, ipmi.")
    p.add_argument("--name")
    p.add_argument("--uuid")
    _add_driver_info_options(p)
    p.add_argument("--property", dest="properties", action="append", metavar="KEY=VALUE")
    p.add_argument("--extra", action="append", metavar="KEY=VALUE")
    _add_interface_options(p)
    _add_conductor_group_option(p)
    p.set_defaults(func=node_create)

    p = nsub.add_parser("list", parents=[fmt], help="List nodes.")
    p.add_argument("--driver")
    p.add_argument("--maintenance", action="store_true", default=None)
    p.add_argument("--no-maintenance", dest="maintenance", action="store_false")
    p.add_argument("--provision-state")
    p.add_argument("--limit", type=_limit, metavar="N",
                   help="At most N nodes (0, the default: every node, as "
                        "'baremetal node list --limit 0').")
    p.add_argument("--long", action="store_true", help="Show every field.")
    p.set_defaults(func=node_list)

    p = nsub.add_parser("show", parents=[fmt], help="Show a node.")
    p.add_argument("node", help="Name or UUID.")
    p.set_defaults(func=node_show)

    p = nsub.add_parser("set", parents=[fmt], help="Change a node's fields.")
    p.add_argument("node")
    p.add_argument("--name")
    p.add_argument("--driver")
    _add_driver_info_options(p)
    p.add_argument("--property", action="append", metavar="KEY=VALUE")
    p.add_argument("--extra", action="append", metavar="KEY=VALUE")
    _add_interface_options(p)
    _add_conductor_group_option(p)
    p.set_defaults(func=node_set)

    p = nsub.add_parser("unset", parents=[fmt], help="Remove fields from a node.")
    p.add_argument("node")
    p.add_argument("--name", action="store_true")
    p.add_argument("--driver-info", action="append", metavar="KEY")
    p.add_argument("--property", action="append", metavar="KEY")
    p.add_argument("--extra", action="append", metavar="KEY")
    for kind in interface_types.ALL:
        p.add_argument("--%s-interface" % kind, dest="%s_interface" % kind,
                       action="store_true", help="Back to the default %s interface." % kind)
    p.add_argument("--conductor-group", action="store_true",
                   help='Back to the default conductor group ("").')
    p.set_defaults(func=node_unset)

    p = nsub.add_parser(
        "delete", parents=[fmt], help="Delete nodes.",
        description="Delete nodes. With several, each is tried in turn and its outcome "
                    "reported; the failures are summed up in a table, exit status 1 "
                    "if any failed.")
    p.add_argument("nodes", nargs="+")
    p.set_defaults(func=node_delete)

    p = nsub.add_parser("validate", parents=[fmt], help="Check each interface's inputs.")
    p.add_argument("node")
    p.set_defaults(func=node_validate)

    p = nsub.add_parser(
        "power", parents=[fmt], help="Power a node (or many) on/off/reboot, or show it.",
        description="Power a node on/off/reboot, or show its recorded power state "
                    "('unknown (not read yet)' until 'node manage', a power action or "
                    "the server's sync read it). With --all, --name-glob or --file "
                    "instead of NODE, every selected node in parallel, with a "
                    "summary of the failures; exit status 1 if any failed. Ctrl-C "
                    "starts no further node, waits for those in progress (locally; "
                    "over --url the server carries them on), prints what became "
                    "of each node and exits 130 (SIGTERM and SIGHUP too: 143, 129).")
    p.add_argument("action", choices=("on", "off", "reboot", "status"))
    p.add_argument("node", nargs="?")
    p.add_argument("--soft", action="store_true", help="Graceful off / reboot.")
    p.add_argument("--power-timeout", type=float, metavar="SECONDS")
    bulk_opts = p.add_argument_group("many nodes")
    bulk_opts.add_argument("--all", action="store_true", help="Every node (see --driver).")
    bulk_opts.add_argument("--driver", help="Only nodes of this hardware type.")
    bulk_opts.add_argument("--name-glob", metavar="PATTERN",
                           help="Nodes whose name matches, e.g. 'rack1-*'.")
    bulk_opts.add_argument("--file", metavar="PATH",
                           help="Node names or UUIDs, one a line (# comments); - "
                                "reads them from standard input.")
    bulk_opts.add_argument("--parallel", type=_at_least_one("--parallel", bulk.MAX_PARALLEL),
                           metavar="N", help="Nodes acted on at once, from 1 to %d "
                           "(default: %d; per-controller queues still apply)."
                           % (bulk.MAX_PARALLEL, bulk.DEFAULT_PARALLEL))
    _add_verbose_option(p)
    p.set_defaults(func=node_power)

    p = nsub.add_parser("maintenance", parents=[fmt],
                        help="Put a node in maintenance (set) or take it out (unset).")
    p.add_argument("action", choices=("set", "unset"))
    p.add_argument("node")
    p.add_argument("--reason", help="Why (with set); shown in node show and history.")
    p.set_defaults(func=node_maintenance)

    for action, text in (("manage", "enroll -> manageable: verify the BMC credentials "
                                    "and read the power state"),
                         ("provide", "manageable -> available (runs cleaning)"),
                         ("inspect", "manageable -> inspecting -> manageable: read the "
                                     "machine's CPUs, memory, disks and NICs into its "
                                     "properties and ports"),
                         ("abort", "stop a node waiting in a *wait state")):
        p = nsub.add_parser(action, parents=[fmt], help="Provision action: %s." % text)
        p.add_argument("node")
        p.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                       help="With --url: give up waiting after this long (the action goes on "
                            "on the server). Locally the action runs in this "
                            "process, to its end.")
        _add_verbose_option(p)
        p.set_defaults(func=node_provision)

    deploy_cli.register(nsub, fmt)
    console_cli.register(nsub, fmt)

    p = nsub.add_parser("history", parents=[fmt],
                        help="A node's recorded events, oldest first: errors, provision "
                             "states, maintenance changes.")
    p.add_argument("node")
    p.add_argument("--long", action="store_true", help="Also conductor, user, event UUID.")
    p.set_defaults(func=node_history)

    p = nsub.add_parser("boot-device", parents=[fmt], help="Set or show the boot device.")
    p.add_argument("action", choices=("set", "show"))
    p.add_argument("node")
    p.add_argument("device", nargs="?", choices=boot_devices.ALL)
    p.add_argument("--persistent", action="store_true")
    p.add_argument("--supported", action="store_true", help="With show: list supported.")
    p.set_defaults(func=node_boot_device)

    p = nsub.add_parser("sensors", parents=[fmt], help="Read sensor data.")
    p.add_argument("node")
    p.set_defaults(func=node_sensors)

    p = nsub.add_parser("inject-nmi", parents=[fmt], help="Inject an NMI.")
    p.add_argument("node")
    p.set_defaults(func=node_inject_nmi)

    driver = top.add_parser("driver", help="Hardware types enabled in config.")
    dsub = driver.add_subparsers(dest="command", metavar="COMMAND")
    dsub.required = True
    p = dsub.add_parser("list", parents=[fmt], help="List enabled hardware types.")
    p.set_defaults(func=driver_list, database=False)
    p = dsub.add_parser("show", parents=[fmt], help="Interfaces of a hardware type.")
    p.add_argument("name")
    p.set_defaults(func=driver_show, database=False)
    p = dsub.add_parser("properties", parents=[fmt],
                        help="driver_info fields: required/optional/secret per interface.")
    p.add_argument("name")
    p.set_defaults(func=driver_properties, database=False)

    conductors_cli.register(top, fmt)

    for name, func, helptext in (
            ("power", oneshot_power, "Drive one machine's power directly (no database)."),
            ("boot-device", oneshot_boot_device,
             "Set/show one machine's boot device directly (no database).")):
        p = top.add_parser(name, parents=[fmt], help=helptext)
        if name == "power":
            p.add_argument("action", choices=("on", "off", "reboot", "status"))
            p.add_argument("--soft", action="store_true")
            p.add_argument("--power-timeout", type=float, metavar="SECONDS")
        else:
            p.add_argument("action", choices=("set", "show"))
            p.add_argument("device", nargs="?", choices=boot_devices.ALL)
            p.add_argument("--persistent", action="store_true")
        p.add_argument("--driver", required=True, help="Hardware type.")
        p.add_argument("--node-name", help="Name used in messages and command templates "
                       "(default: the controller, e.g. ipmi:10.0.0.21:623).")
        p.add_argument("-v", "--verbose", action="count", default=0,
                       help="-v: log each retry; -vv: and the driver's debug lines.")
        _add_driver_info_options(p)
        _add_interface_options(p)
        p.set_defaults(func=func, oneshot=True)
    # Named for "required: {node,...}" rather than "required: group"; from
    # what was added, so a new group cannot be left out of the usage line.
    top.metavar = "{%s}" % ",".join(top.choices)
    return parser


#: The optional positionals (dest, its choices or None) a word after an option fills.
_OPTIONAL_POSITIONALS = (("device", boot_devices.ALL), ("node", None))


def parse(parser, argv):
    """``parser.parse_args(argv)``, an optional DEVICE or NODE taken after an option too.

    argparse fills an optional positional with the first run of positionals:
    in ``node boot-device set web1 --persistent pxe`` (or the one-shot
    ``boot-device set --driver ipmi pxe``) DEVICE was left empty at ``web1``,
    in ``node power off --soft web1`` NODE at ``off``, and the word after
    the option refused as "unrecognized arguments", exit status 2.
    """
    args, extra = parser.parse_known_args(argv)
    misplaced = _own_options(parser) & {word.split("=", 1)[0] for word in extra}
    if misplaced:
        args, extra = parser.parse_known_args(_moved_before_command(parser, argv, misplaced))
    empty = [(dest, choices) for dest, choices in _OPTIONAL_POSITIONALS
             if getattr(args, dest, "") is None]
    if len(extra) == 1 and not extra[0].startswith("-") and empty:
        dest, choices = empty[0]
        if choices and extra[0] not in choices:
            parser.error("argument %s: invalid choice: %r (choose from %s)"
                         % (dest, extra[0], ", ".join(choices)))
        setattr(args, dest, extra[0])
        return args
    if extra:
        parser.error("unrecognized arguments: %s" % " ".join(extra))
    return args


def _own_options(parser):
    """The option strings of hwdrivers itself (--url, --config-file...)."""
    return {string for action in parser._actions for string in action.option_strings}


def _moved_before_command(parser, argv, names):
    """``argv`` with the options ``names`` of hwdrivers itself (and their values)
    found after the command moved to just before it.

    ``hwdrivers node list --url URL``: argparse hands a subcommand's unknown
    words back unparsed, so --url there was "unrecognized arguments" although
    -f and -c are taken on either side. Those before the command stay first,
    so repeated --config-file keep their order.
    """
    actions = {string: action for action in parser._actions
               for string in action.option_strings}
    head, moved, tail = [], [], []
    index = 0
    while index < len(argv):  # hwdrivers' own words, up to the command
        word = argv[index]
        if word == "--" or not word.startswith("-"):
            break
        action = actions.get(word)
        takes = 1 if action is not None and action.nargs != 0 else 0
        head.extend(argv[index:index + 1 + takes])
        index += 1 + takes
    while index < len(argv):
        word = argv[index]
        if word == "--":
            tail.extend(argv[index:])
            break
        name = word.split("=", 1)[0]
        if name in names:
            takes = 1 if actions[name].nargs != 0 and "=" not in word else 0
            moved.extend(argv[index:index + 1 + takes])
            index += 1 + takes
            continue
        tail.append(word)
        index += 1
    return head + moved + tail


#: Arguments that name files: a path may be any bytes the file system allows.
_PATH_ARGUMENTS = frozenset({"config_file", "driver_info_file", "file", "config_drive"})


def _chosen_actions(parser, args):
    """The arguments of ``parser`` and of the subcommands ``args`` chose."""
    pending = [parser]
    while pending:
        current = pending.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(args, action.dest, None))
                if chosen is not None:
                    pending.append(chosen)
            elif action.dest != argparse.SUPPRESS:
                yield action


def check_arguments(parser, args):
    """InvalidParameterValue naming the first argument that is not UTF-8 text,
    or a node named by the empty string.

    An argument's bytes that do not decode reach Python as lone surrogates,
    which no database, URL or JSON document takes: ``node show $'\\xff'``
    ended in a UnicodeEncodeError traceback, locally and over --url. File
    paths are left alone (a file may have any name), and ``KEY=VALUE``
    pairs are checked by :mod:`inputs`, which names the key.
    """
    for action in _chosen_actions(parser, args):
        if action.dest in _PATH_ARGUMENTS or action.metavar == "KEY=VALUE":
            continue
        value = getattr(args, action.dest, None)
        name = (max(action.option_strings, key=len) if action.option_strings
                else "argument %s" % (action.metavar or action.dest))
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                inputs.check_text(item, name)
            if item == "" and action.dest in ("node", "nodes"):
                # Not "Node  could not be found", or over --url the node list.
                raise exception.InvalidParameterValue(
                    "%s is empty: give a node's name or UUID ('hwdrivers node list' "
                    "shows them)" % name)


#: The columns of a bulk action's report: every node's entry (JSON, Ctrl-C).
REPORT_COLUMNS = ["node", "result", "error"]


def _report(rows, columns, wanted, fmt, stream):
    """A bulk action's report, in the ``-c`` columns it has, in the order asked.

    ``-f value -c node`` then prints the failed nodes' names alone, ready
    for ``--file``; it printed their errors too, as ``-c`` was ignored. A
    report holding none of the columns asked for (``-c power_state``, the
    success table's) is shown whole: the failures must not be lost behind
    an error about a column.
    """
    kept = [c for c in dict.fromkeys(wanted or ()) if c in columns]
    if kept:
        rows = [{c: row.get(c) for c in kept} for row in rows]
        columns = kept
    output.emit(rows, fmt, columns=columns, stream=stream)


def _interrupted_report(results, fmt, stream, wanted=None):
    """What became of every node of a bulk action cut short by Ctrl-C.

    Every node, not only the failures: the operator needs the ones not
    started to run them again. The exit status (130) is the caller's.
    """
    _report(results, REPORT_COLUMNS, wanted, fmt, stream)
    sys.stderr.write("ERROR: interrupted: %s (of %d nodes)\n"
                     % (bulk.summary(results), len(results)))
    sys.stderr.flush()


def run(args, backend_factory, stream=None):
    """Run the parsed command; returns what was printed's source value."""
    if getattr(args, "command", None) == "boot-device" or args.group == "boot-device":
        if args.action == "set" and not args.device:
            raise SystemExit("error: boot-device set needs a DEVICE (one of: %s)"
                             % ", ".join(boot_devices.ALL))
    if not getattr(args, "oneshot", False):
        # Retries are noise unless asked for: the final error says it all.
        oneshot.set_verbosity(getattr(args, "verbose", 0) or 0)
    backend = None if getattr(args, "oneshot", False) else backend_factory()
    try:
        result = args.func(args, backend)
    except bulk.Interrupted as interrupted:
        _interrupted_report(interrupted.results, getattr(args, "format", "table"), stream,
                            getattr(args, "columns", None))
        raise  # reported: the caller exits 130 without another word
    except _BulkReport as report:
        fmt = getattr(args, "format", "table")
        wanted = getattr(args, "columns", None)
        if fmt in output.DOCUMENTS:
            if wanted:
                _report(report.results, REPORT_COLUMNS, wanted, fmt, stream)
            else:  # the whole document, as it always was
                output.emit(report.results, fmt, stream=stream)
        else:
            _report(report.failures, ["node", "error"], wanted, fmt, stream)
        raise bulk.BulkFailed(failed=len(report.failures),
                              total=len(report.results)) from None
    columns = None
    fmt = getattr(args, "format", "table")
    wanted = getattr(args, "columns", None)
    if isinstance(result, tuple):
        # (rows, columns) or (rows, columns, data): JSON/YAML print the data,
        # unless columns of the rows are asked for.
        rows, columns, *data = result
        result = data[0] if data and fmt in output.DOCUMENTS and not wanted else rows
    result, columns = _selected(args, result, wanted, columns)
    output.emit(result, fmt, columns=columns, stream=stream)
    return result


def _only_reads(args):
    """Whether the command ``args`` ran changes nothing (a listing, a show, a status)."""
    reads = (node_list, node_show, node_validate, node_history, node_sensors, driver_list,
             driver_show, driver_properties, conductors_cli.conductor_list,
             conductors_cli.conductor_show, console_cli.console_show)
    return args.func in reads or getattr(args, "action", None) in ("status", "show")


def _selected(args, result, wanted, columns):
    """:func:`output.select`; a column refused after a command that acted says
    the command was carried out.

    ``-c`` is checked against the result, so after the command: ``node
    create --name db1 -c nosuch`` created db1 and exited 1 with an error
    about the column alone, and a script's retry failed on the name taken.
    """
    try:
        return output.select(result, wanted, columns)
    except exception.InvalidParameterValue as exc:
        if _only_reads(args):
            raise
        raise exception.InvalidParameterValue(
            "%s. The command was carried out all the same, only its output is not "
            "shown: do not run it again ('hwdrivers node show NODE' shows the node)"
            % exc) from None
