"""The local backends: the CLI reads the config's drivers, or drives the database.

Every method returns plain JSON-able values, exactly what the HTTP
backend returns, so commands and output do not care which is underneath.

The ``driver`` commands answer from the configured registry alone
(:class:`LocalDrivers`): they need no database, so they work before one
exists or while it is unreachable, and they never import the database
layer (SQLAlchemy, its event loop and TLS stack: ~16 MiB and a fifth of
a second of a command's start-up). Every other command gets
:class:`LocalBackend`, which checks the schema and builds the conductor
before the command runs.
"""

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.drivers import factory


class LocalDrivers:
    """The enabled hardware types and their fields, from the config file."""

    @property
    def registry(self):
        return factory.get_registry()

    def driver_list(self):
        return self.registry.describe_all()

    def driver_show(self, name):
        return self.registry.describe(name)

    def driver_properties(self, name):
        return self.registry.fields(name)


class LocalBackend(LocalDrivers):
    """The local database, through the conductor (this process has no worker pool)."""

    #: Actions run in this process, holding node locks, with no server to
    #: finish them: a bulk command interrupted by Ctrl-C waits for the ones
    #: in flight (the HTTP backend leaves them to the server).
    runs_actions_here = True

    def __init__(self):
        # Here, not at module level: LocalDrivers must not load the database layer.
        from hwdrivers.conductor import manager as conductor_manager
        from hwdrivers.db import migration
        migration.ensure_schema()
        self.manager = conductor_manager.ConductorManager()
        self.context = hw_context.get_admin_context()

    def abandon_in_flight(self):
        """This process is leaving with actions still running: release their nodes."""
        return self.manager.abandon_actions(self.context)

    def _view(self, node):
        return self.manager.node_view(node)

    def node_create(self, values):
        return self._view(self.manager.create_node(self.context, values))

    def node_list(self, filters=None, limit=None):
        nodes = self.manager.list_nodes(self.context, filters=filters or None, limit=limit)
        return [self._view(n) for n in nodes]

    def node_show(self, ident):
        return self._view(self.manager.get_node(self.context, ident))

    def node_update(self, ident, set_values, unset):
        return self._view(self.manager.update_node(self.context, ident, set_values, unset))

    def node_delete(self, ident):
        self.manager.delete_node(self.context, ident)

    def node_validate(self, ident):
        return self.manager.validate_node(self.context, ident)

    def node_power(self, ident, target, timeout=None):
        state = self.manager.change_power_state(self.context, ident, target, timeout=timeout)
        return {"power_state": state.value}

    def node_power_status(self, ident):
        """The recorded state, as the server answers it (None: never read)."""
        return {"power_state": self.manager.get_node(self.context, ident).power_state}

    def node_maintenance(self, ident, on, reason=None):
        return self._view(self.manager.set_maintenance(self.context, ident, on,
                                                       reason=reason))

    def node_history(self, ident):
        from hwdrivers.conductor import node_history
        return node_history.list_events(self.context, ident)[1]

    def node_provision(self, ident, action, timeout=None):
        """Run the action here, to its end (this process has no worker pool).

        A failure of the work itself raises the node's ``last_error`` -- what
        the HTTP backend reads back -- so both say the same thing.
        """
        before = self.manager.get_node(self.context, ident)
        try:
            self.manager.do_provisioning_action(self.context, before.uuid, action)
        except exception.HWDriversError:
            after = self.manager.get_node(self.context, before.uuid)
            if after.last_error and after.last_error != before.last_error:
                raise exception.HWDriversError(after.last_error) from None
            raise
        return _states(self.manager.get_node(self.context, before.uuid))

    def node_boot_device_set(self, ident, device, persistent):
        self.manager.set_boot_device(self.context, ident, device, persistent=persistent)

    def node_boot_device_show(self, ident):
        return self.manager.get_boot_device(self.context, ident)

    def node_boot_device_supported(self, ident):
        return {"supported_boot_devices":
                self.manager.get_supported_boot_devices(self.context, ident)}

    def node_sensors(self, ident):
        return self.manager.get_sensors_data(self.context, ident)

    def node_inject_nmi(self, ident):
        self.manager.inject_nmi(self.context, ident)


def _states(node):
    """The fields ``GET /v1/nodes/<node>/states`` carries that the CLI shows."""
    return {"provision_state": node.provision_state,
            "target_provision_state": node.target_provision_state,
            "power_state": node.power_state, "last_error": node.last_error}
