"""The conductor's entry points: what the CLI and the REST API call.

Every method takes a request context and a node identifier (id, UUID or
name), opens the right task, and returns domain values. Inputs are checked
here, all at once, before anything is written: a bad request changes
nothing. Callers render the results; :meth:`node_view` gives the masked
dict every output uses.
"""

import concurrent.futures
import contextlib
import functools
import logging
import re
import threading
import uuid as uuid_mod

from hwdrivers import conf as hw_conf

from hwdrivers.common import exception
from hwdrivers.common import node_secrets
from hwdrivers.common import states
from hwdrivers.conductor import inspection
from hwdrivers.conductor import operations
from hwdrivers.conductor import provisioning
from hwdrivers.conductor import task_manager
from hwdrivers.conductor import unknown_driver_info
from hwdrivers.drivers import factory
from hwdrivers.drivers.modules import ipxe
from hwdrivers.objects import node as node_obj

LOG = logging.getLogger(__name__)

#: Ironic's logical names (1.10+): RFC 3986 unreserved characters, any first.
_NAME = re.compile(r"^[A-Za-z0-9._~-]{1,255}\Z")
#: A conductor group name; ``\Z``, not ``$``, which would let a trailing newline
#: through (a group no conductor's configuration can name).
_GROUP = re.compile(r"^[A-Za-z0-9._-]{0,255}\Z")

#: Words the API reads as keywords where a node identifier may stand
#: (``GET /v1/nodes/detail``): a node of that name could never be addressed.
#: tests/api/test_nodes.py checks this against the API's routes.
RESERVED_NAMES = frozenset({"detail"})

#: Fields node create/update accept, and their Python types.
_FIELD_TYPES = {
    "name": (str, type(None)),
    "driver": str,
    "driver_info": dict,
    "instance_info": dict,
    "properties": dict,
    "extra": dict,
    "uuid": str,
    "conductor_group": str,
}
_FIELD_TYPES.update({f: (str, type(None)) for f in node_obj.INTERFACE_FIELDS})
#: Ironic's override of [conductor] automated_clean (null: follow the option).
_FIELD_TYPES["automated_clean"] = (bool, type(None))
#: How a type error names what a field takes (default: "a string").
_FIELD_KINDS = {dict: "an object", (bool, type(None)): "true, false or null"}


def _is_uuid(text):
    try:
        uuid_mod.UUID(str(text))
        return True
    except ValueError:
        return False


def _name_errors(name):
    """Why ``name`` cannot name a node (empty when it can)."""
    if not _NAME.match(name):
        return ["field name %r must be 1-255 letters, digits or ._~-" % name[:80]]
    if name in (".", ".."):
        return ["field name %r is a URL path segment of its own (/v1/nodes/%s is "
                "read as another path by every HTTP client), so the node could not "
                "be addressed by name; choose another name" % (name, name)]
    if _is_uuid(name):
        return ["field name %r parses as a UUID, so requests would look the node up by "
                "UUID and never find it by name; choose a name that is not a UUID" % name]
    if name.lower() in RESERVED_NAMES:
        return ["field name %r is a keyword of the API (GET /v1/nodes/%s lists nodes), "
                "so the node could not be addressed by name; choose another name"
                % (name, name.lower())]
    return []


#: The methods whose caller waits on the hardware (they go through
#: ConductorManager._hardware_call): at most [api] hardware_wait_slots at once in
#: a process, here and in an API process that routes them to a conductor.
HARDWARE_WAITS = frozenset((
    "get_power_state", "get_supported_power_states", "set_boot_device",
    "get_boot_device", "get_supported_boot_devices", "get_sensors_data",
    "inject_nmi", "vendor_passthru"))


class ConductorManager:
    """Node operations for one process; the API and local CLI sit on top."""

    def __init__(self, registry=None, workers=None, conf=None):
        self._registry = registry
        self.workers = workers  # a WorkerPool for asynchronous operations
        self._conf = conf or hw_conf.CONF
        self._hardware_waits = threading.BoundedSemaphore(
            self._conf.api.hardware_wait_slots)

    @property
    def registry(self):
        return self._registry or factory.get_registry()

    # -- where hardware is waited on ------------------------------------------

    def _hardware_call(self, ident, action, func):
        """``func()`` (which opens its own task) run where waiting on hardware is safe.

        Without a worker pool (the local CLI) it runs here. In the service it
        runs in a worker and the caller, an API request thread, waits at most
        ``[api] hardware_call_timeout`` (504 after, the call going on in its
        worker); at most ``[api] hardware_wait_slots`` callers wait at once and
        the next is refused with 503 at once. So controllers that hang can
        hold workers, never every API thread: listing nodes stays fast.
        """
        if self.workers is None:
            return func()
        with self.hardware_wait_slot():
            future = self.workers.submit(func)
            timeout = self._conf.api.hardware_call_timeout
            try:
                return future.result(timeout)
            except concurrent.futures.TimeoutError:
                raise exception.HardwareCallTimeout(
                    node=ident, action=action, timeout=timeout) from None

    @contextlib.contextmanager
    def hardware_wait_slot(self):
        """One of ``[api] hardware_wait_slots``, or HardwareBusy (503) at once."""
        if not self._hardware_waits.acquire(blocking=False):
            raise exception.HardwareBusy(count=self._conf.api.hardware_wait_slots)
        try:
            yield
        finally:
            self._hardware_waits.release()

    # -- views -----------------------------------------------------------------

    def node_view(self, node):
        """The node as a dict for output: secrets masked, lease owner hidden."""
        values = node_secrets.mask(node.as_dict())
        try:
            composition = self.registry.compose(node)
        except exception.HWDriversError:
            composition = None
        values["driver_info"] = self.registry.mask(values.get("driver_info"), composition)
        if composition is not None:
            for kind, name in composition.interface_names.items():
                values["%s_interface" % kind] = name
        values["reservation"] = values.get("reservation") and values["reservation"].split(":")[0]
        values.pop("reservation_expires", None)
        return values

    # -- input checks ------------------------------------------------------------

    def _check_values(self, values, node=None):
        """Every problem with node fields, raised at once; nothing is written."""
        errors = []
        for key, value in values.items():
            expected = _FIELD_TYPES.get(key)
            if expected is None:
                errors.append("field %s cannot be set (settable: %s)"
                              % (key, ", ".join(sorted(_FIELD_TYPES))))
            elif not isinstance(value, expected):
                errors.append("field %s must be %s" % (
                    key, _FIELD_KINDS.get(expected, "a string")))
        name = values.get("name")
        if isinstance(name, str):
            errors.extend(_name_errors(name))
        errors.extend(
            "field %s is empty: name an interface, or unset the field (PATCH remove "
            "/%s; hwdrivers node unset --%s) for the hardware type's default"
            % (field, field, field.replace("_", "-"))
            for field in node_obj.INTERFACE_FIELDS if values.get(field) == "")
        group = values.get("conductor_group")
        if isinstance(group, str) and not _GROUP.match(group):
            errors.append("field conductor_group %r must be at most 255 letters, digits, "
                          "'.', '-' or '_' (empty: the default group), the [conductor] "
                          "conductor_group of the conductors that should drive the node"
                          % group[:80])
        if "uuid" in values and isinstance(values["uuid"], str) and not _is_uuid(values["uuid"]):
            errors.append("field uuid %r is not a UUID" % values["uuid"])
        if errors:
            raise exception.InvalidParameterValue(errors=errors)
        merged = dict(node.as_dict() if node is not None else {}, **values)
        ident = node.uuid if node is not None else None
        if not merged.get("driver"):
            raise exception.MissingParameterValue(
                "field driver is required; choose one of: %s"
                % ", ".join(sorted(self.registry.hardware_types)))
        self.registry.check_interfaces(merged["driver"], merged, node=ident)
        composition = self.registry.compose(_Merged(merged))
        schema = composition.schema
        _, invalid = schema.errors(merged.get("driver_info"))
        invalid.extend(schema.unknown(merged.get("driver_info")))
        if invalid:
            raise exception.InvalidParameterValue(
                "%sinvalid driver_info %s" % ("Node %s: " % ident if ident else "",
                                              "; ".join(invalid)),
                errors=invalid)
        if "driver_info" in values:
            unknown_driver_info.check(schema, values["driver_info"],
                                      node.driver_info if node is not None else None,
                                      ident)

    # -- nodes -----------------------------------------------------------------

    def create_node(self, context, values):
        values = dict(values)
        self._check_values(values)
        _lower_group(values)
        values.setdefault("driver_info", {})
        return node_obj.Node.create(values)

    def get_node(self, context, ident):
        return node_obj.Node.get(ident)

    def get_node_states(self, context, ident):
        """The node's power, provision and console states (a dict), read lean."""
        from hwdrivers.db import api as db_api
        return db_api.get_node_states(ident)

    def list_nodes(self, context, **kwargs):
        return node_obj.Node.list(**kwargs)

    def nodes_with_driver_info_key(self, context, key):
        """Light rows (uuid, name, driver, power_interface, sealed driver_info)
        of the nodes whose driver_info has ``key``: finding a node by a plain
        driver_info value without reading the whole fleet."""
        from hwdrivers.db import api as db_api
        return db_api.nodes_with_driver_info_key(key)

    def update_node(self, context, ident, set_values=None, unset=(), reset_interfaces=False,
                    maintenance=None):
        """Set fields (``driver_info/<key>`` paths allowed) and unset others.

        ``maintenance`` (True/False; None leaves it) is set in the same
        write, as :meth:`set_maintenance` sets it (entering keeps no reason,
        leaving clears reason and fault): a PATCH of it with other fields is
        all saved or none.

        On a driver change, interfaces the node never set (stored unset)
        follow the new driver's defaults, and those it set are kept and
        checked against the new driver. Ironic stores every interface, so
        there only ``reset_interfaces`` moves them; here it is needed for
        the ones the node set (:func:`_reset_interfaces`).

        The last write drops the node's lock in the same statement, so the
        node returned is as others now see it (no reservation), as Ironic
        answers, with no extra round trip.
        """
        set_values = dict(set_values or {})
        with task_manager.acquire(context, ident, purpose="node update") as task:
            node = task.node
            changes = {}
            for path, value in set_values.items():
                field, _, key = path.partition("/")
                if key:
                    current = dict(changes.get(field, getattr(node, field, None) or {}))
                    current[key] = value
                    changes[field] = current
                else:
                    changes[field] = value
            for path in unset:
                field, _, key = path.partition("/")
                if key:
                    current = dict(changes.get(field, getattr(node, field, None) or {}))
                    if key not in current:
                        raise exception.InvalidParameterValue(
                            "Node %s: %s has no key %s to unset" % (node.ident, field, key))
                    del current[key]
                    changes[field] = current
                elif field in ("name", "automated_clean") + node_obj.INTERFACE_FIELDS:
                    changes[field] = None
                elif field == "conductor_group":  # Ironic's "no group": the default
                    changes[field] = ""
                elif field in node_obj.JSON_FIELDS:
                    changes[field] = {}
                else:
                    raise exception.InvalidParameterValue(
                        "Node %s: field %s cannot be unset" % (node.ident, field))
            if reset_interfaces:
                _reset_interfaces(node, changes)
            _check_console_stays(node, changes)
            _check_deploy_inputs_stay(node, changes)
            self._check_values(changes, node=node)
            _lower_group(changes)
            for field, value in changes.items():
                setattr(node, field, value)
            if maintenance is not None and maintenance != node.maintenance:
                _set_maintenance_fields(node, maintenance)
            task.save(release=True)
        if (self.consoles is not None and node.console_enabled
                and not _CONSOLE_INPUTS.isdisjoint(changes)):
            try:  # a console this process serves follows it now, not at the next sync
                self.consoles.node_changed(node)
            except Exception:  # noqa: BLE001 - the update is saved; the sync tries again
                LOG.exception("Node %s: updated; its console could not follow the change "
                              "yet (the next console sync tries again)", node.ident)
        return node

    def delete_node(self, context, ident):
        """Delete the node; its console, if this process serves it, stops at once,
        and its boot files under this process's ``[deploy] http_root`` go.

        As Ironic does: left to the console manager's sync, a deleted node's
        console went on serving its port and writing its log for up to the
        sync interval. (A conductor other than this process stops it at
        its own next sync.) Its console log and port file go too.
        """
        with task_manager.acquire(context, ident, purpose="node delete") as task:
            task.destroy_node()
            if self.consoles is not None:
                self.consoles.node_deleted(task)
            try:  # its iPXE scripts, deploy ISO...: the row is gone, so best effort
                ipxe.remove_node_files(task.node.uuid)
            except OSError as exc:
                task.logger.warning("deleted; removing its boot files failed: %s", exc)

    def validate_node(self, context, ident):
        with task_manager.acquire(context, ident, shared=True, purpose="validate") as task:
            return operations.validate(task)

    # -- power -------------------------------------------------------------------

    def change_power_state(self, context, ident, target, timeout=None, wait=True):
        """Power on/off/reboot/soft off; with ``wait=False`` run in a worker (202).

        With ``wait=False`` the node (as locked, before the worker acts) is
        returned, so a caller that named it by name learns its UUID without
        reading it again.
        """
        if timeout is not None and (not isinstance(timeout, (int, float))
                                    or isinstance(timeout, bool) or timeout <= 0):
            raise exception.InvalidParameterValue(
                "timeout must be a positive number of seconds, got %r" % (timeout,))
        def begin(task):
            return operations.begin_power_change(task, target)

        # The target is published by the statement that takes the lease and
        # checked in the same transaction: a refused request leaves no trace.
        # Ctrl-C while the lease is held, wherever it lands, clears that target.
        acquire = functools.partial(
            task_manager.acquire, context, ident, purpose="power %s" % target,
            prepare=begin, publish=operations.power_publish(target),
            on_interrupt=_record_interrupted_power)
        if wait:
            with acquire() as task:
                return operations.finish_power_change(task, task.prepared, timeout=timeout)
        if self.workers is None:
            raise exception.NoFreeWorker("No worker pool in this process.")
        # A worker is held before anything is written: a full pool changes nothing.
        worker = self.workers.reserve()
        try:
            with acquire() as task:
                task.spawn_after(worker.submit, operations.finish_power_change,
                                 task, task.prepared, timeout=timeout)
        finally:
            worker.cancel()  # no-op once submitted
        return task.node

    def _submit_or_undo(self, task, saved):
        """``workers.submit`` that, when the pool refuses, restores ``saved`` fields.

        Called while the task still holds its lock, so a 503 leaves the node
        exactly as it was: "a full pool changes nothing".
        """
        def submit(*args, **kwargs):
            try:
                return self.workers.submit(*args, **kwargs)
            except exception.NoFreeWorker:
                for field, value in saved.items():
                    setattr(task.node, field, value)
                task.save()
                raise
        return submit

    # -- provisioning and maintenance ------------------------------------------------

    def do_provisioning_action(self, context, ident, action, configdrive=None,
                               clean_steps=None):
        """manage / provide / deploy (active) / undeploy (deleted) / abort / inspect /
        clean (with ``clean_steps``); async.

        The new state is published before this returns; the work runs in a
        worker holding the node's lock (inline when the process has no pool).
        InvalidStateRequested (400, as in Ironic) names the current state and the actions
        allowed in it; NoFreeWorker (503) leaves the node unchanged.
        """
        with task_manager.acquire(context, ident, purpose="provision %s" % action) as task:
            transition = provisioning.begin(task, action, configdrive=configdrive,
                                            clean_steps=clean_steps)
            if not transition.needs_work:
                return None
            if self.workers is None:
                transition.run()
                return None
            task.spawn_after(self._submit_or_undo(task, transition.saved), transition.run)
        return None

    def continue_inspection(self, context, ident, inventory, plugin_data):
        """A ramdisk's inventory for a node in inspect wait; processed in a worker."""
        return inspection.continue_inspection(self, context, ident, inventory, plugin_data)

    def set_maintenance(self, context, ident, maintenance, reason=None):
        """Put a node in maintenance (with an optional reason) or take it out.

        Leaving maintenance clears the reason, the fault and the power-sync
        failure count, so the sync starts afresh with the node.
        """
        if not isinstance(maintenance, bool):
            raise exception.InvalidParameterValue(
                "maintenance must be true or false, got %r" % (maintenance,))
        if reason is not None and not isinstance(reason, str):
            raise exception.InvalidParameterValue(
                "maintenance reason must be a string, got %r" % (reason,))
        with task_manager.acquire(context, ident, purpose="set maintenance") as task:
            node = task.node
            _set_maintenance_fields(node, maintenance, reason)
            task.save()
            return node

    def get_power_state(self, context, ident):
        return self._in_task(context, ident, "power status", operations.read_power_state,
                             shared=True)

    # -- consoles (served by this conductor's console manager) -----------------------

    #: The service's ConsoleManager (conductor/console_manager.py), when it runs one.
    consoles = None

    def _console_manager(self):
        if self.consoles is None:
            raise exception.ConsolesUnavailable()
        return self.consoles

    def set_console_mode(self, context, ident, enabled):
        """Enable or disable a node's console (202 in the API); returns its UUID."""
        return self._console_manager().set_console_mode(context, ident, enabled)

    def get_console(self, context, ident):
        """Ironic's console document of the node, with the proxy's state and error."""
        return self._console_manager().get_console(context, ident)

    def read_console_log(self, context, ident, nbytes):
        """The end of the node's console log, as text (invalid UTF-8 replaced)."""
        data = self._console_manager().read_log(context, ident, nbytes)
        return data.decode("utf-8", "replace")

    def agent_heartbeat(self, context, ident, callback_url, token, agent_version=None,
                        agent_verify_ca=None):
        """A deploy ramdisk's heartbeat (conductor/deployments.py); the API's entry.

        hwdrivers-api routes it to the node's conductor (conductor/rpc_api.py),
        which then continues the deploy in one of its workers.
        """
        from hwdrivers.conductor import deployments
        deployments.heartbeat(self, context, ident, callback_url, token,
                              agent_version=agent_version, agent_verify_ca=agent_verify_ca)

    def get_supported_power_states(self, context, ident):
        return self._in_task(context, ident, "power states",
                             lambda task: task.driver.power.get_supported_power_states(task),
                             shared=True)

    # -- management ----------------------------------------------------------------

    def _in_task(self, context, ident, purpose, operation, *args, shared=False, **kwargs):
        """``operation(task, ...)`` in a task on the node, where hardware may be waited on."""
        def run():
            with task_manager.acquire(context, ident, shared=shared, purpose=purpose) as task:
                return operation(task, *args, **kwargs)
        return self._hardware_call(ident, purpose, run)

    def set_boot_device(self, context, ident, device, persistent=False):
        self._in_task(context, ident, "set boot device", operations.set_boot_device,
                      device, persistent=persistent)

    def get_boot_device(self, context, ident):
        return self._in_task(context, ident, "boot device", operations.get_boot_device,
                             shared=True)

    def get_supported_boot_devices(self, context, ident):
        return self._in_task(context, ident, "boot devices",
                             operations.get_supported_boot_devices, shared=True)

    def get_sensors_data(self, context, ident):
        return self._in_task(context, ident, "sensors", operations.get_sensors_data,
                             shared=True)

    def inject_nmi(self, context, ident):
        return self._in_task(context, ident, "inject nmi", operations.inject_nmi)

    # -- vendor --------------------------------------------------------------------

    def vendor_methods(self, context, ident):
        with task_manager.acquire(context, ident, shared=True, purpose="vendor methods") as task:
            routes = getattr(task.driver.vendor, "vendor_routes", {})
            return {name: {k: v for k, v in route.items() if k != "func"}
                    for name, route in routes.items()}

    def vendor_passthru(self, context, ident, method, http_method="POST", args=None):
        """Returns ``(async, result)``; async methods run in a worker.

        Synchronous methods may wait on the hardware, so the whole call runs
        where that is safe (see :meth:`_hardware_call`).
        """
        args = dict(args or {})
        return self._hardware_call(
            ident, "vendor method %s" % method,
            lambda: self._vendor_passthru(context, ident, method, http_method, args))

    def _vendor_passthru(self, context, ident, method, http_method, args):
        with task_manager.acquire(context, ident, purpose="vendor %s" % method) as task:
            vendor = task.driver.vendor
            vendor.validate(task, method=method, **args)
            route = vendor.vendor_routes[method]
            if http_method not in route["http_methods"]:
                raise exception.InvalidParameterValue(
                    "Node %s: vendor method %s accepts %s, not %s" % (
                        task.node.ident, method, ", ".join(route["http_methods"]),
                        http_method))

            def run():
                result = vendor.call(task, method, http_method=http_method, **args)
                task.save()
                return result

            if not route["async"]:
                return False, run()
            if self.workers is None:
                return True, run()
            task.spawn_after(self.workers.submit, run)
            return True, None

    # -- drivers -------------------------------------------------------------------

    def list_drivers(self, context):
        return self.registry.describe_all()

    def get_driver(self, context, name):
        return self.registry.describe(name)

    def driver_properties(self, context, name):
        """Per interface kind: every field with required/optional/secret flags."""
        return self.registry.fields(name)

    # -- ports and conductors -------------------------------------------------------
    # A port's MAC and pxe_enabled are what deploying, cleaning and inspection
    # work from (iPXE scripts per MAC, the agent's lookup, inspection's port
    # updates), so changing or deleting a port takes its node's lock, as in
    # Ironic: never under a running action, and the state rules are checked
    # on the node as it is once locked. Creating one needs no lock (Ironic
    # takes a shared one); the database's constraints settle races on MACs.

    def create_port(self, context, values):
        """``values``: address, node_id (int) and optional uuid/extra/pxe_enabled."""
        from hwdrivers.db import api as db_api
        return db_api.create_port(values)

    def list_ports(self, context, node_id=None, limit=None, marker=None, sort_key="id",
                   sort_dir="asc", conductor_groups=None):
        from hwdrivers.db import api as db_api
        return db_api.list_ports(node_id=node_id, limit=limit, marker=marker,
                                 sort_key=sort_key, sort_dir=sort_dir,
                                 conductor_groups=conductor_groups)

    def get_port(self, context, ident):
        """A port by UUID, MAC address or int id."""
        from hwdrivers.db import api as db_api
        return db_api.get_port(ident)

    def update_port(self, context, ident, values, check=None):
        """Set ``values`` on port ``ident`` under its node's lock (and, for a
        move, the new node's); ``check(port, node)`` may refuse the change
        for the node the port ends on, as it is once locked."""
        from hwdrivers.db import api as db_api
        port = db_api.get_port(ident)
        # A move locks both nodes, in id order: two moves in opposite
        # directions then queue instead of each holding what the other awaits.
        node_ids = sorted({port["node_id"], values.get("node_id", port["node_id"])})
        with contextlib.ExitStack() as locks:
            try:
                tasks = {node_id: locks.enter_context(task_manager.acquire(
                    context, node_id, purpose="port update")) for node_id in node_ids}
            except exception.NodeNotFound:
                # Deleted while this waited for its lock: the port's own node
                # took the port with it (the API answers for the move's target).
                self._port_again(port)
                raise
            held = tasks[port["node_id"]]
            target = tasks[values.get("node_id", port["node_id"])]
            port = self._port_of(held, port)
            if check is not None:
                check(port, target.node)
            return db_api.update_port(port["id"], values, node_id=held.node.id)

    def delete_port(self, context, ident):
        """Delete port ``ident`` under its node's lock."""
        from hwdrivers.db import api as db_api
        port = db_api.get_port(ident)
        try:
            task = task_manager.acquire(context, port["node_id"], purpose="port deletion")
        except exception.NodeNotFound:
            self._port_again(port)  # its node took it along: PortNotFound
            raise
        with task:
            db_api.destroy_port(self._port_of(task, port)["id"], node_id=task.node.id)

    @staticmethod
    def _port_again(port):
        """``port`` read again, or PortNotFound naming it by UUID: deleted
        (or taken along by its node) while a request waited for a lock. The
        read is by database id, which the error must not name: no client
        knows it."""
        from hwdrivers.db import api as db_api
        try:
            return db_api.get_port(port["id"])
        except exception.PortNotFound:
            raise exception.PortNotFound(port=port["uuid"]) from None

    @classmethod
    def _port_of(cls, task, port):
        """``port`` read again under ``task``'s lock: still that node's, or a
        409 (it was moved while the lock was awaited) or a 404 (deleted)."""
        current = cls._port_again(port)
        if current["node_id"] != task.node.id:
            raise exception.Conflict("Port %s moved to another node while this request "
                                     "waited for node %s; send it again."
                                     % (port["uuid"], task.node.ident))
        return current

    def list_conductors(self, context):
        from hwdrivers.db import api as db_api
        return db_api.list_conductors()

    def abandon_actions(self, context):
        """Let go of the nodes this process's actions still hold: it is leaving.

        For the local CLI when a second Ctrl-C stops it waiting for actions in
        flight: they run in threads that die with the process, and no
        conductor recovers a CLI's leases, so the nodes would stay locked,
        their targets shown, until the leases expired. Each cleared target
        gets :data:`ABANDONED_POWER_ERROR` and a history event. Returns the
        number of nodes released.
        """
        from hwdrivers.conductor import node_history
        from hwdrivers.db import api as db_api
        cleared, released = db_api.abandon_leases(task_manager.process_lease_prefix(),
                                                  ABANDONED_POWER_ERROR)
        for node_id in cleared:
            node_history.record(node_id, "ERROR", "power", ABANDONED_POWER_ERROR, context)
        return len(released)

    def get_conductor(self, context, hostname):
        from hwdrivers.db import api as db_api
        return db_api.get_conductor(hostname)


#: last_error of a power action whose own process was interrupted (Ctrl-C,
#: or a signal the local CLI takes as one), worded as the conductor's
#: recovery words aborted ones.
INTERRUPTED_POWER_ERROR = (
    "The power action was interrupted (Ctrl-C, SIGINT, SIGTERM or SIGHUP) in the "
    "process running it, before it finished; the target power state was cleared. "
    "Check the power state and retry.")


#: last_error of a power action still running when its process left (the
#: local CLI stopped waiting for it: see ``abandon_actions``).
ABANDONED_POWER_ERROR = (
    "The power action was abandoned: the process running it was interrupted twice "
    "(Ctrl-C or a signal) and left before it finished, so it may or may not have "
    "reached the hardware; the target power state was cleared. Check the power state and retry.")


def _record_interrupted_power(task):
    """Clear the target of a power action cut short by Ctrl-C, and say why.

    Only a waiting caller (the local CLI, no server) runs the action in the
    thread Ctrl-C reaches; no recovery ever runs for it, so a target left
    published would read "in progress" forever. Whether the hardware
    switched is unknown and reading it could take as long again, so the
    recorded power state is left as it was. Written in the task, under its
    lease, which the same write releases; if that fails the interrupt goes
    on all the same (the task manager still releases the lease).
    """
    if task.node.target_power_state is None:
        return  # the action had finished: nothing was left in progress
    task.node.target_power_state = None
    task.node.last_error = INTERRUPTED_POWER_ERROR
    try:
        task.save(release=True)
    except exception.LeaseLost:
        pass  # the lease was never committed (or is another task's): nothing to clear
    except Exception as exc:
        task.logger.warning("could not record that the power action was "
                            "interrupted: %s", exc)


def _lower_group(values):
    """``conductor_group`` in lower case: group names are case-insensitive, as
    in Ironic (``DC2`` and ``dc2`` name one group; the conductors' own
    ``[conductor] conductor_group`` is lowered the same way)."""
    if isinstance(values.get("conductor_group"), str):
        values["conductor_group"] = values["conductor_group"].lower()


#: Provision states whose running deploy reads instance_info as it goes.
_DEPLOY_IN_PROGRESS = frozenset(state.value for state in (
    states.ProvisionState.DEPLOYING, states.ProvisionState.DEPLOYWAIT))


def _check_deploy_inputs_stay(node, changes):
    """Refuse an instance_info, driver or interface change while a deploy runs on it.

    The deploy checked instance_info when it started, then reads it again
    step by step (the image is fetched once the ramdisk is up): a new
    ``image_source`` would be written unchecked, half of one deploy and
    half of another.
    """
    if ("instance_info" in changes and node.provision_state in _DEPLOY_IN_PROGRESS
            and changes["instance_info"] != node.instance_info):
        raise exception.InvalidParameterValue(
            "Node %s: instance_info cannot change while it is deploying (provision "
            "state %s): the running deploy reads it. Abort the deploy (baremetal node "
            "abort, or PUT .../states/provision {\"target\": \"abort\"}) or let it "
            "end, then change it" % (node.ident, node.provision_state))
    # Its interfaces too: a boot interface switched mid-deploy (to noop) left the
    # iPXE scripts the old one wrote, and the machine booted the ramdisk again.
    moved = [field for field in ("driver",) + node_obj.INTERFACE_FIELDS
             if field in changes and changes[field] != getattr(node, field, None)]
    if moved and node.provision_state in _DEPLOY_IN_PROGRESS:
        raise exception.InvalidParameterValue(
            "Node %s: %s cannot change while it is deploying (provision state %s): the "
            "running deploy uses them. Abort the deploy (baremetal node abort) or let "
            "it end, then change %s" % (node.ident, ", ".join(moved),
                                        node.provision_state,
                                        "it" if len(moved) == 1 else "them"))


#: Node fields a console's command is built from (console_manager._fingerprint).
_CONSOLE_INPUTS = frozenset({"driver", "driver_info", "console_interface"})


def _set_maintenance_fields(node, maintenance, reason=None):
    """Enter maintenance (with ``reason``) or leave it; leaving clears the reason,
    the fault and the power-sync failure count, so the sync starts afresh."""
    node.maintenance = maintenance
    node.maintenance_reason = reason if maintenance else None
    if not maintenance:
        node.fault = None
        node.power_sync_failures = 0


def _check_console_stays(node, changes):
    """Refuse a new console interface (or driver) while the node's console is on.

    The running console belongs to the old interface: once switched, the
    new one cannot stop it (no-console refuses to), and its process and
    listener ran on with no way to disable them.
    """
    moved = [field for field in ("console_interface", "driver")
             if field in changes and changes[field] != getattr(node, field, None)]
    if moved and node.console_enabled:
        raise exception.InvalidParameterValue(
            "Node %s: its console is enabled; disable it first (PUT /v1/nodes/%s/states/"
            "console {\"enabled\": false}, or hwdrivers node console disable) before "
            "changing %s" % (node.ident, node.ident, " or ".join(moved)))


def _reset_interfaces(node, changes):
    """Ironic's ``reset_interfaces``: with a driver change, every interface
    ``changes`` does not set goes back to the new driver's default (unset).

    Only a change of driver may ask for it (Ironic's rule): on the same
    driver it would silently drop interfaces the operator chose.
    """
    driver = changes.get("driver", node.driver)
    if driver == node.driver:
        raise exception.InvalidParameterValue(
            "Node %s: reset_interfaces can only be given when changing the node's "
            "driver, and this change leaves it %s; set driver to another hardware "
            "type in the same request, or drop reset_interfaces" % (node.ident, node.driver))
    for field in node_obj.INTERFACE_FIELDS:
        if field not in changes and getattr(node, field, None) is not None:
            changes[field] = None


class _Merged:
    """Attribute view of a dict of node values, for composing before saving."""

    def __init__(self, values):
        self._values = values

    def __getattr__(self, name):
        return self._values.get(name)

