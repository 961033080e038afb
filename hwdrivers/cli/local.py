"""The local backend: the CLI drives the database through the conductor.

Every method returns plain JSON-able values, exactly what the HTTP
backend returns, so commands and output do not care which is underneath.
"""

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import manager as conductor_manager
from hwdrivers.db import migration


class LocalBackend:
    def __init__(self):
        migration.ensure_schema()
        self.manager = conductor_manager.ConductorManager()
        self.context = hw_context.get_admin_context()

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
        return {"power_state": self.manager.get_power_state(self.context, ident).value}

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

    def driver_list(self):
        return self.manager.list_drivers(self.context)

    def driver_show(self, name):
        return self.manager.get_driver(self.context, name)

    def driver_properties(self, name):
        return self.manager.driver_properties(self.context, name)
