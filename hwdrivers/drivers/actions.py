"""Power and boot-device actions on a task, with checks and verification.

These are the steps every caller shares — the conductor, the one-shot
CLI, ``hwdrivers-powerdriver``: check the request against what the driver
supports, call it through :func:`retry.run` (taxonomy retries, controller
gating), then poll the state back with backoff until it holds. The
conductor adds its bookkeeping (target state, ``last_error``) around them.

Each action is one :func:`retry.operation`: its check, its command and any
read after a failure share one deadline (``command_retry_timeout``), so an
operation on a controller that does not answer ends within that plus one
command timeout. Verifying a power change has its own deadline, the power
state change timeout, shared by every poll.
"""

import time


from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import CONF
from hwdrivers.drivers import retry

__all__ = [
    "check_power_target", "get_power_state", "wait_for_power_state", "set_power_state",
    "check_boot_device", "set_boot_device", "get_boot_device", "get_sensors_data",
    "inject_nmi", "validate",
]


_SOFT = (PowerState.SOFT_OFF, PowerState.SOFT_REBOOT)


def _label(task):
    """What messages call the node: its name when it has one (``Node.ident``),
    which for a one-shot node is its controller, not a UUID made up for the call."""
    return task.node.name or task.node.uuid


def check_power_target(task, target, declared_only=False):
    """The parsed target, or InvalidPowerState listing what this node supports.

    ``declared_only`` checks against the implementation's declared
    ``power_states`` and never calls the driver: what an API request thread
    may do. The full check (which may ask the controller) runs in the worker.
    """
    try:
        target = PowerState.parse(target)
    except ValueError as exc:
        raise exception.InvalidPowerState("Node %s: %s" % (_label(task), exc)) from None
    if declared_only:
        supported = task.driver.power.power_states
        if supported is None:
            return target
    else:
        supported = task.driver.power.get_supported_power_states(task)
    if target not in supported:
        raise exception.InvalidPowerState(
            "Node %s: power interface %s cannot do %s; supported: %s"
            % (_label(task), task.driver.power.implementation_name, target.value,
               ", ".join(s.value for s in supported)))
    return target


def get_power_state(task, gate=None, deadline=None):
    """The power state read through :func:`retry.run` (``deadline``: see there)."""
    power = task.driver.power
    return PowerState.parse(retry.run(task, power, power.get_power_state, gate=gate,
                                      deadline=deadline))


def wait_for_power_state(task, expected, timeout=None, gate=None, setting=None):
    """Poll until the node reads ``expected``; PowerStateFailure after ``timeout``.

    ``setting`` names where ``timeout`` came from, for the error's hint
    (default: ``[conductor] power_state_change_timeout``, the default wait;
    with a ``timeout`` and no ``setting``, the caller's own).

    Polls start at 50 ms and double to 2 s: fast for BMCs that act at
    once, gentle on ones that take seconds (Redfish systems often do).
    Every poll shares the one deadline: a read that fails is retried only
    until it, and no poll starts after it, so a controller that stops
    answering halfway ends the wait within ``timeout`` plus one command
    timeout.
    """
    if timeout is None:
        timeout = CONF.conductor.power_state_change_timeout
        setting = setting or "[conductor] power_state_change_timeout"
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        state = get_power_state(task, gate=gate, deadline=deadline)
        if state == expected:
            return state
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            hint = ("raise %s if the hardware is slow" % setting if setting
                    else "the wait the request asked for; ask for a longer one if the "
                         "hardware is slow")
            raise exception.PowerStateFailure(
                node=_label(task), state=expected.value,
                reason="still %s after %ss (%s)" % (state.value, timeout, hint))
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 2.0)


def set_power_state(task, target, timeout=None, gate=None, timeout_setting=None):
    """Act towards ``target`` and return the verified resting state.

    ``timeout_setting`` names what gave ``timeout`` (a CLI flag...), for the
    error when the state is not reached in time.
    """
    power = task.driver.power
    with retry.operation(power):
        target = check_power_target(task, target)
        if target in _SOFT and timeout is None:
            timeout = CONF.conductor.soft_power_off_timeout
            timeout_setting = "[conductor] soft_power_off_timeout"
        if target == PowerState.REBOOT:
            retry.run(task, power, power.reboot, timeout=timeout, gate=gate)
        else:
            retry.run(task, power, power.set_power_state, target, timeout=timeout,
                      gate=gate)
        return wait_for_power_state(task, target.resting, timeout=timeout, gate=gate,
                                    setting=timeout_setting)


def check_boot_device(task, device):
    management = task.driver.management
    supported = management.get_supported_boot_devices(task)
    if device not in supported:
        raise exception.InvalidBootDevice(
            "Node %s: boot device %r is not supported by management interface %s; "
            "supported: %s" % (_label(task), device, management.implementation_name,
                               ", ".join(supported) or "none"))
    return device


def set_boot_device(task, device, persistent=False, gate=None):
    management = task.driver.management
    with retry.operation(management):
        device = check_boot_device(task, device)
        retry.run(task, management, management.set_boot_device, device,
                  persistent=bool(persistent), gate=gate)


def get_boot_device(task, gate=None):
    management = task.driver.management
    return retry.run(task, management, management.get_boot_device, gate=gate)


def get_sensors_data(task, gate=None):
    management = task.driver.management
    return retry.run(task, management, management.get_sensors_data, gate=gate)


def inject_nmi(task, gate=None):
    management = task.driver.management
    return retry.run(task, management, management.inject_nmi, gate=gate)


def validate(task):
    """``{kind: {"result": bool, "reason": str|None}}`` for every interface.

    Unknown driver_info fields that look like misspellings are reported
    against the power interface, once, with the fix.
    """
    results = {}
    for kind, iface in task.driver.interfaces.items():
        try:
            iface.validate(task)
        except exception.UnsupportedDriverExtension as exc:
            results[kind] = {"result": False, "reason": str(exc)}
        except (exception.InvalidParameterValue, exception.DriverError) as exc:
            results[kind] = {"result": False, "reason": str(exc)}
        else:
            results[kind] = {"result": True, "reason": None}
    typos = task.driver.schema.unknown(task.node.driver_info)
    if typos:
        reason = "Node %s: invalid driver_info %s" % (_label(task), "; ".join(typos))
        results["power"] = {"result": False, "reason": "; ".join(
            filter(None, [results["power"]["reason"], reason]))}
    return results
