"""Drive one machine directly: no database, no service.

``hwdrivers power on --driver ipmi --driver-info ipmi_address=...`` does
what PDUDaemon's ``--drive`` and the MAAS power executables do: compose the
driver, validate, act, verify, print the verified state.

The machine has no node record, so without ``--node-name`` it is named
after its controller (``ipmi:10.0.0.21:623``) rather than a random UUID.
The retries of a controller that does not answer are what the final error
already sums up ("after 8 attempts"), so they are logged only with ``-v``;
``-vv`` adds the driver's debug lines (the ipmitool command lines...).
"""

import logging
import math
import os
import uuid as uuid_mod

from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.drivers import actions
from hwdrivers.drivers import retry
from hwdrivers.drivers import task as driver_task

ONESHOT_TARGETS = {"on": "power on", "off": "power off", "reboot": "rebooting"}
_ONESHOT_HINT = "Fix with --driver-info <field>=<value> (or <field>=- for a secret)."


def _validate(interface, task):
    """``interface.validate``, with the fix worded for this command: no node is stored.

    Once driver_info is valid, an unnamed node takes its controller's name.
    """
    try:
        interface.validate(task)
    except exception.InvalidParameterValue as exc:
        # The random UUID means nothing to the operator; the name they gave does.
        raise exc.reword(node=task.node.name, fix=_ONESHOT_HINT) from None
    task.name_after_controller()


class _RetryFilter(logging.Filter):
    """Drops the retry warnings of :mod:`hwdrivers.drivers.retry` (not its errors)."""

    _source = os.path.normcase(os.path.splitext(retry.__file__)[0])

    def filter(self, record):
        return (record.levelno >= logging.ERROR
                or os.path.normcase(os.path.splitext(record.pathname)[0]) != self._source)


_RETRY_FILTER = _RetryFilter()


def set_verbosity(verbosity: int) -> None:
    """0: no retry warnings; 1: retries and the driver's info lines; 2: debug too."""
    node_log = logging.getLogger(driver_task.LOG.name)
    if verbosity >= 1:
        node_log.removeFilter(_RETRY_FILTER)
    else:
        node_log.addFilter(_RETRY_FILTER)
    level = {0: logging.NOTSET, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    for name in (driver_task.LOG.name, "hwdrivers.drivers"):
        logging.getLogger(name).setLevel(level)


def make_task(args, info):
    set_verbosity(getattr(args, "verbose", 0) or 0)
    fields = {"%s_interface" % kind: getattr(args, "%s_interface" % kind, None)
              for kind in interface_types.ALL}
    # Composing refuses a --<kind>-interface "Node <uuid>: ..."; that UUID is
    # made up for this call, so it is left out (the controller is not known yet).
    node_uuid = str(uuid_mod.uuid4())
    try:
        return driver_task.StandaloneTask.for_driver(
            args.driver, driver_info=info, name=getattr(args, "node_name", None),
            uuid=node_uuid, **fields)
    except exception.InvalidParameterValue as exc:
        if node_uuid not in str(exc):
            raise
        raise type(exc)(str(exc).replace("Node %s: " % node_uuid, "")) from None


def _check_timeout(timeout):
    """``--power-timeout`` must be a finite number of seconds above 0.

    It is both the driver's soft-off wait and the verification deadline:
    ``nan`` made both waits endless (a soft off of an OS ignoring ACPI never
    returned), a negative one failed at the first poll blaming [conductor]
    power_state_change_timeout, and 0 quietly meant the default.
    """
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise exception.InvalidParameterValue(
            "--power-timeout %g is not a number of seconds above 0: give e.g. "
            "--power-timeout 300, or leave it out for the configured default" % timeout)


def _check_options(action, soft, timeout):
    """Refuse what ``action`` would ignore, as ``node power`` does.

    ``power on --soft`` powered on hard and ``power status --soft
    --power-timeout 5`` read the state, both exiting 0, so the operator
    took an option for applied that was dropped.
    """
    if action == "status" and (soft or timeout is not None):
        raise exception.InvalidParameterValue(
            "--soft and --power-timeout apply to a power change, not to 'power status'")
    if soft and action == "on":
        raise exception.InvalidParameterValue(
            "--soft is for 'power off' and 'power reboot' (a graceful one), not 'power on'")


def power(task, action, soft=False, timeout=None):
    _check_options(action, soft, timeout)
    _check_timeout(timeout)
    if action == "status":
        _validate(task.driver.power, task)
        return {"power_state": actions.get_power_state(task).value}
    target = ONESHOT_TARGETS[action]
    if soft:
        target = {"power off": "soft power off", "rebooting": "soft rebooting"}.get(target, target)
    _validate(task.driver.power, task)
    state = actions.set_power_state(
        task, target, timeout=timeout,
        timeout_setting="--power-timeout" if timeout is not None else None)
    return {"power_state": state.value}


def boot_device(task, action, device=None, persistent=False):
    """``set`` or ``show``; ``show`` with a DEVICE or --persistent is refused.

    ``boot-device show pxe`` (meant as set) printed the current device and
    exited 0, so it read as done.
    """
    if action == "show" and (device or persistent):
        raise exception.InvalidParameterValue(
            "boot-device show takes no DEVICE or --persistent: to set one, run "
            "boot-device set %s%s" % (device or "DEVICE", " --persistent" if persistent else ""))
    _validate(task.driver.management, task)
    if action == "set":
        actions.set_boot_device(task, device, persistent=persistent)
        return {"boot_device": device, "persistent": bool(persistent)}
    return actions.get_boot_device(task)
