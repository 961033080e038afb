"""Drive one machine directly: no database, no service.

``hwdrivers power on --driver ipmi --driver-info ipmi_address=...`` does
what PDUDaemon's ``--drive`` and the MAAS power executables do: compose the
driver, validate, act, verify, print the verified state.
"""

from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.drivers import actions
from hwdrivers.drivers import task as driver_task

ONESHOT_TARGETS = {"on": "power on", "off": "power off", "reboot": "rebooting"}
_NODE_HINT = "Fix with 'hwdrivers node set <node> --driver-info <field>=<value>'."
_ONESHOT_HINT = "Fix with --driver-info <field>=<value> (or <field>=- for a secret)."


def _validate(interface, task):
    """``interface.validate``, with the fix worded for this command: no node is stored."""
    try:
        interface.validate(task)
    except exception.InvalidParameterValue as exc:
        exc.message = exc.message.replace(_NODE_HINT, _ONESHOT_HINT)
        exc.args = (exc.message,)
        raise


def make_task(args, info):
    fields = {"%s_interface" % kind: getattr(args, "%s_interface" % kind, None)
              for kind in interface_types.ALL}
    return driver_task.StandaloneTask.for_driver(
        args.driver, driver_info=info, name=getattr(args, "node_name", None), **fields)


def power(task, action, soft=False, timeout=None):
    if action == "status":
        _validate(task.driver.power, task)
        return {"power_state": actions.get_power_state(task).value}
    target = ONESHOT_TARGETS[action]
    if soft:
        target = {"power off": "soft power off", "rebooting": "soft rebooting"}.get(target, target)
    _validate(task.driver.power, task)
    state = actions.set_power_state(task, target, timeout=timeout)
    return {"power_state": state.value}


def boot_device(task, action, device=None, persistent=False):
    _validate(task.driver.management, task)
    if action == "set":
        actions.set_boot_device(task, device, persistent=persistent)
        return {"boot_device": device, "persistent": bool(persistent)}
    return actions.get_boot_device(task)
