"""Node operations inside a task: validate, act, verify, record.

Each function runs in an exclusive task (shared for reads). It validates
the interface's driver_info before touching hardware, publishes
``target_power_state`` so observers see what is in flight, verifies the
result (see :mod:`hwdrivers.drivers.actions`), and records the outcome:
the verified state, or ``last_error`` with the target cleared. The
recorded power state stays truthful: when an action fails half-way the
state is read back, and marked ``error`` if even that fails.
"""

import functools
import logging

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import controllers
from hwdrivers.conductor import metrics
from hwdrivers.drivers import actions
from hwdrivers.drivers import retry

# Errors raised before the hardware could have changed state.
_BEFORE_ACTING = (exception.InvalidParameterValue, exception.UnsupportedDriverExtension,
                  exception.DriverSettingsError, exception.DriverAuthError,
                  exception.DriverToolMissing, exception.DriverUnsupportedAction)


def _measured(kind):
    """Count the operation by kind and result, and time it (see metrics)."""
    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with metrics.operation(kind):
                return func(*args, **kwargs)
        return wrapper
    return decorator


def _gate():
    return controllers.LIMITER.slot


def _record_failure(task, exc, reread):
    node = task.node
    node.last_error = str(exc)
    node.target_power_state = None
    if reread:
        try:
            node.power_state = actions.get_power_state(task, gate=_gate()).value
        except Exception:
            node.power_state = PowerState.ERROR.value
    task.save()


def power_publish(target):
    """What :func:`begin_power_change` will publish for ``target``, or None.

    Known before the node is read, so the task can set it in the statement
    that takes the lease (``task_manager.acquire(publish=...)``); None for
    a target that does not parse, which begin_power_change then refuses
    with the node's own list of states.
    """
    try:
        resting = PowerState.parse(target).resting.value
    except ValueError:
        return None
    return {"target_power_state": resting, "last_error": None}


def begin_power_change(task, target):
    """Check the request and publish the target; runs before any worker starts.

    Called inline by the API so a bad target or driver_info is answered
    with 400 at once, and the node shows its target before the 202. It
    never talks to the controller: the target is checked against the
    declaration here and against the hardware in the worker. When the
    lease statement already published it (:func:`power_publish`), there
    is nothing left to write.
    """
    target = actions.check_power_target(task, target, declared_only=True)
    task.driver.power.validate(task)
    node = task.node
    resting = target.resting.value
    if node.target_power_state != resting or node.last_error is not None:
        node.target_power_state = resting
        node.last_error = None
        task.save()
    return target


@_measured("set_power_state")
def finish_power_change(task, target, timeout=None):
    """Act and verify; record the outcome. Raises the driver's error after recording it."""
    node = task.node
    # One deadline for acting and for reading the state back after a failure.
    with retry.operation(task.driver.power):
        try:
            state = actions.set_power_state(task, target, timeout=timeout, gate=_gate())
        except Exception as exc:
            _record_failure(task, exc, reread=not isinstance(exc, _BEFORE_ACTING))
            task.logger.error("%s failed: %s", PowerState.parse(target).value, exc)
            raise
    changed = node.power_state != state.value
    node.power_state = state.value
    node.target_power_state = None
    node.last_error = None
    task.save(release=True)  # the task's last write: record and unlock at once
    # One INFO line per change of state; a request that found the node
    # already there is a DEBUG detail (a fleet re-asserting states is noisy).
    task.logger.log(logging.INFO if changed else logging.DEBUG,
                    "power state is now %s", state.value)
    return state


def change_power_state(task, target, timeout=None):
    target = begin_power_change(task, target)
    return finish_power_change(task, target, timeout=timeout)


@_measured("get_power_state")
def read_power_state(task):
    """Read the hardware's power state and record it (task may be shared)."""
    task.driver.power.validate(task)
    state = actions.get_power_state(task, gate=_gate())
    if task.node.power_state != state.value:
        task.node.power_state = state.value
        task.save()
    return state


@_measured("set_boot_device")
def set_boot_device(task, device, persistent=False):
    task.driver.management.validate(task)
    with retry.operation(task.driver.management):  # the check and the action: one deadline
        actions.check_boot_device(task, device)
        try:
            actions.set_boot_device(task, device, persistent=persistent, gate=_gate())
        except Exception as exc:
            task.node.last_error = str(exc)
            task.save()
            raise
    task.node.boot_device = device
    task.node.boot_device_persistent = bool(persistent)
    task.node.last_error = None
    task.save()


@_measured("get_boot_device")
def get_boot_device(task):
    task.driver.management.validate(task)
    return actions.get_boot_device(task, gate=_gate())


def get_supported_boot_devices(task):
    return list(task.driver.management.get_supported_boot_devices(task))


@_measured("get_sensors_data")
def get_sensors_data(task):
    task.driver.management.validate(task)
    return actions.get_sensors_data(task, gate=_gate())


@_measured("inject_nmi")
def inject_nmi(task):
    task.driver.management.validate(task)
    return actions.inject_nmi(task, gate=_gate())


def validate(task):
    return actions.validate(task)
