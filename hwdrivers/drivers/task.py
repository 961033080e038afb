"""A task without a database: what the one-shot CLI and the powerdriver use.

The conductor's task (:mod:`hwdrivers.conductor.task_manager`) offers the
same attributes, the :class:`hwdrivers.drivers.base.Task` protocol
(``node``, ``driver``, ``logger``, ``shared``, ``context``), so a driver
cannot tell the two apart.
"""

import logging
import types
import uuid as uuid_mod

from hwdrivers.common import interface_types
from hwdrivers.drivers import factory

__all__ = [
    "StandaloneTask", "NodeLoggerAdapter", "make_node", "NODE_FIELDS",
]

LOG = logging.getLogger("hwdrivers.node")

NODE_FIELDS = {
    "uuid": None, "name": None, "driver": None, "driver_info": None,
    "driver_internal_info": None, "instance_info": None, "properties": None,
    "extra": None, "power_state": None, "target_power_state": None,
    "provision_state": "enroll", "boot_device": None,
    "boot_device_persistent": None, "last_error": None, "maintenance": False,
}


class NodeLoggerAdapter(logging.LoggerAdapter):
    """Prefixes every message with the node, so fleet logs stay readable."""

    def process(self, msg, kwargs):
        return "[node %s] %s" % (self.extra["node"], msg), kwargs


def make_node(driver, driver_info=None, **fields):
    """A node record held in memory only."""
    values = dict(NODE_FIELDS)
    values.update({"%s_interface" % kind: None for kind in interface_types.ALL})
    values.update(fields)
    values["driver"] = driver
    values["driver_info"] = dict(driver_info or {})
    for key in ("driver_internal_info", "instance_info", "properties", "extra"):
        values[key] = dict(values[key] or {})
    values["uuid"] = values["uuid"] or str(uuid_mod.uuid4())
    return types.SimpleNamespace(**values)


class StandaloneTask:
    """A task over an in-memory node; nothing is locked or saved."""

    shared = False
    context = None

    def __init__(self, node, registry=None):
        self.node = node
        self.driver = (registry or factory.get_registry()).compose(node)
        self.logger = NodeLoggerAdapter(LOG, {"node": node.name or node.uuid})

    def confirm_lease(self) -> None:
        """Nothing is locked, so nothing can be lost: every command may go."""

    @classmethod
    def for_driver(cls, driver, driver_info=None, registry=None, **fields):
        return cls(make_node(driver, driver_info, **fields), registry=registry)

    def name_after_controller(self) -> str:
        """Name an unnamed node after its power controller (``ipmi:10.0.0.21:623``).

        A node made for one call has a random UUID nobody knows; its
        controller (the BMC, the PDU, the SSH host) is what the operator
        typed, so messages and logs say that instead. Call it once
        driver_info is valid, so the controller key is built from real
        values. Returns the node's name.
        """
        if not self.node.name:
            self.node.name = self.driver.power.controller_key(self)
            self.logger = NodeLoggerAdapter(LOG, {"node": self.node.name})
        return self.node.name
