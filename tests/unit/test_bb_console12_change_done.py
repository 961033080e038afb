"""A console change is reported done only once another may be asked for.

``hwdrivers node console disable`` (or any client polling ``GET
.../states/console``) saw ``off`` as soon as the record said so, while the
manager still counted the disable as running: an ``enable`` right after
was refused with 409 "a console change (disable) is already in progress",
and likewise a disable right after an enable saw ``on``. The manager is
caught in that window here: its change not over, the record already
written.
"""

import threading

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import console_manager
from hwdrivers.conductor import console_relay
from hwdrivers.db import api as db_api


class _Relay:
    def __init__(self, node):
        self.node = node
        self.state = console_relay.ON
        self.ever_up = True
        self.retrying = False
        self.last_error = None
        self.reason = None
        self.transition = threading.Lock()
        self.port_number = 1
        self.client_address = None


def test_disable_recorded_but_not_over_is_not_off(sqlite_database):
    node = db_api.create_node({"driver": "fake-hardware", "console_enabled": False})
    manager = console_manager.ConsoleManager()
    manager._changing[node["uuid"]] = "disable"
    doc = manager.get_console(hw_context.get_admin_context(), node["uuid"])
    assert doc["console_state"] == "stopping", doc
    del manager._changing[node["uuid"]]
    doc = manager.get_console(hw_context.get_admin_context(), node["uuid"])
    assert doc["console_state"] == "off", doc


def test_enable_recorded_but_not_over_is_not_on(sqlite_database):
    node = db_api.create_node({"driver": "fake-hardware", "console_enabled": True})
    manager = console_manager.ConsoleManager()
    manager._relays[node["uuid"]] = _Relay(node["uuid"])
    manager._changing[node["uuid"]] = "enable"
    doc = manager.get_console(hw_context.get_admin_context(), node["uuid"])
    assert doc["console_state"] == "starting", doc
    del manager._changing[node["uuid"]]
    doc = manager.get_console(hw_context.get_admin_context(), node["uuid"])
    assert doc["console_state"] == "on", doc
