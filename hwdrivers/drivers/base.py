"""The interfaces a hardware type composes, after Ironic's ``drivers.base``.

An implementation subclasses one interface class, declares its driver_info
parameters once in ``driver_info_schema`` (see :mod:`hwdrivers.drivers.params`)
and is published under an entry point in
``hwdrivers.hardware.interfaces.<interface_type>``.

Methods receive a *task*: ``task.node`` (``uuid``, ``name``, ``driver_info``,
``power_state``, ``boot_device``, ...), ``task.driver`` (the node's composed
interfaces) and ``task.logger``. Drivers never reach the database or the
conductor, so the same class serves the service, the one-shot CLI and the
external-driver protocol.
"""

import abc
import collections
import inspect
import logging
from typing import Any, Protocol, runtime_checkable

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import CONF
from hwdrivers.drivers import params

__all__ = [
    "Task", "Node", "ControllerLimits", "UNLIMITED", "BaseInterface", "PowerInterface",
    "ManagementInterface", "BootInterface", "DeployInterface", "ConsoleInterface",
    "InspectInterface", "RAIDInterface", "BIOSInterface", "RescueInterface",
    "VendorInterface", "INTERFACE_CLASSES", "clean_step", "deploy_step", "passthru",
    "update_internal_info",
]


# -- steps ---------------------------------------------------------------------

def _step_decorator(kind, priority, argsinfo, **extra):
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValueError("%s_step priority must be an integer, got %r" % (kind, priority))
    if argsinfo is not None:
        if not isinstance(argsinfo, dict):
            raise ValueError("%s_step argsinfo must be a dict of name -> "
                             "{'description', 'required'}" % kind)
        for name, info in argsinfo.items():
            if not isinstance(info, dict) or "description" not in info:
                raise ValueError("%s_step argsinfo[%r] needs a 'description'" % (kind, name))

    def decorator(func):
        setattr(func, "_is_%s_step" % kind, True)
        setattr(func, "_%s_step_priority" % kind, priority)
        setattr(func, "_%s_step_argsinfo" % kind, argsinfo)
        for key, value in extra.items():
            setattr(func, "_%s_step_%s" % (kind, key), value)
        return func
    return decorator


def clean_step(priority, abortable=False, argsinfo=None):
    """Mark a method as a clean step; priority 0 runs only when asked for."""
    if not isinstance(abortable, bool):
        raise ValueError("clean_step abortable must be True or False")
    return _step_decorator("clean", priority, argsinfo, abortable=abortable)


def deploy_step(priority, argsinfo=None):
    """Mark a method as a deploy step; priority 0 runs only when asked for."""
    return _step_decorator("deploy", priority, argsinfo)


# -- what a driver may rely on -------------------------------------------------

@runtime_checkable
class Node(Protocol):
    """The node record a driver reads (and, for ``power_state`` and
    ``boot_device``, may set on a task that is not ``shared``).

    The conductor's :class:`hwdrivers.objects.node.Node`, the one-shot
    CLI's in-memory record and the power sync's row all have these fields.
    """

    uuid: str
    name: str | None
    driver: str
    driver_info: dict[str, Any]
    driver_internal_info: dict[str, Any]
    instance_info: dict[str, Any]
    properties: dict[str, Any]
    extra: dict[str, Any]
    power_state: str | None
    provision_state: str | None
    boot_device: str | None
    maintenance: bool


@runtime_checkable
class Task(Protocol):
    """What every interface method receives, whoever calls it.

    The conductor's :class:`~hwdrivers.conductor.task_manager.TaskManager`,
    the one-shot CLI's :class:`~hwdrivers.drivers.task.StandaloneTask` and
    the power sync's read task all provide exactly this, so a driver written
    against it works in the service, the CLI and ``hwdrivers-powerdriver``:

    - ``node``: the :class:`Node`;
    - ``driver``: the node's composed interfaces (``task.driver.power``,
      ``task.driver.management``...), a
      :class:`~hwdrivers.drivers.factory.Composition`;
    - ``logger``: a logger whose lines name the node;
    - ``shared``: True when the task holds no lock (read only: do not act);
    - ``context``: the caller's request context, or None.
    """

    node: Node
    driver: Any
    logger: logging.LoggerAdapter
    shared: bool
    context: Any


def capabilities(node: Any) -> dict:
    """The node's Ironic-style ``properties.capabilities`` as a dict.

    Ironic stores them as ``"boot_mode:uefi,secure_boot:true"``, clients
    sometimes as an object; anything else is no capability.
    """
    found = (getattr(node, "properties", None) or {}).get("capabilities")
    if isinstance(found, str):
        found = dict(item.partition(":")[::2] for item in found.split(",") if item)
    return found if isinstance(found, dict) else {}


def update_internal_info(task: Task, **values: Any) -> None:
    """Set keys of ``task.node.driver_internal_info``; a value of None removes its key.

    The node's field is replaced, not changed in place, so the task's
    change tracking sees it and the caller's ``task.save()`` writes it.
    """
    info = dict(task.node.driver_internal_info or {})
    for key, value in values.items():
        if value is None:
            info.pop(key, None)
        else:
            info[key] = value
    task.node.driver_internal_info = info


# -- the base ------------------------------------------------------------------

class ControllerLimits(collections.namedtuple(
        "ControllerLimits", ["max_concurrency", "min_interval"])):
    """How hard one controller (BMC, PDU, SSH host) may be driven.

    ``max_concurrency`` commands at once (None: unlimited) and at least
    ``min_interval`` seconds between the start of two commands.
    """


UNLIMITED = ControllerLimits(None, 0.0)


class BaseInterface(abc.ABC):  # noqa: B024 (kinds below add the abstract methods)
    """What every interface has: properties, validation, steps, controller."""

    #: The kind of interface (``power``, ``management``...), set by subclasses.
    interface_type = "base"

    #: driver_info parameters this implementation reads.
    driver_info_schema = params.EMPTY

    #: For an implementation that overrides :meth:`driver_info_schema_for`:
    #: the driver_info keys its per-node declaration depends on. A node with
    #: none of them gets no secret field beyond ``driver_info_schema``'s, so
    #: masking a listing skips asking (a 1,000-node page asks for every node
    #: otherwise). None: every node is asked. The registry checks the promise
    #: for a node with no driver_info when it loads the implementation.
    driver_info_schema_depends_on: frozenset[str] | None = None

    #: Entry-point name; the loader sets it on the instance it creates.
    name = None

    #: The config group (``ipmi``, ``snmp``...) holding this implementation's
    #: ``max_concurrency``, ``min_command_interval`` and
    #: ``command_retry_timeout`` (:func:`hwdrivers.conf.driver_common.controller_opts`),
    #: from which :meth:`controller_limits` and :meth:`retry_timeout` come.
    #: None: unlimited, no retries. The group must be registered on
    #: :data:`hwdrivers.conf.CONF` by the time a task runs.
    config_group: str | None = None

    def __init__(self):
        self._clean_steps = self._collect_steps("clean")
        self._deploy_steps = self._collect_steps("deploy")

    def __repr__(self):
        return "<%s %s>" % (self.interface_type, self.name or type(self).__name__)

    @property
    def implementation_name(self):
        return self.name or type(self).__name__

    def _collect_steps(self, kind):
        steps = {}
        for attr_name, member in inspect.getmembers(type(self), inspect.isfunction):
            if getattr(member, "_is_%s_step" % kind, False):
                steps[attr_name] = member
        return steps

    # properties and validation

    def get_properties(self) -> dict[str, str]:
        """``{field: description}`` of every driver_info parameter."""
        return self.driver_info_schema.properties()

    def driver_info_schema_for(self, driver_info: dict[str, Any] | None
                               ) -> params.Schema:
        """The declaration that applies to a node with this ``driver_info``.

        Usually the static ``driver_info_schema``; an implementation whose
        fields depend on the node (the external driver reads them from the
        executable the node names) overrides this, so validation and secret
        masking follow the node's real fields. Must not raise.
        """
        return self.driver_info_schema

    def parse_driver_info(self, task: Task) -> dict[str, Any]:
        """Typed driver_info for this interface.

        :raises MissingParameterValue: only required fields are absent.
        :raises InvalidParameterValue: listing every problem at once.
        """
        return self.driver_info_schema.parse(
            task.node.driver_info, node=task.node.uuid, check_unknown=False)

    def validate(self, task: Task) -> None:
        """Check the node has what this interface needs. Never talks to hardware.

        The default checks the declared driver_info; override to add checks
        and call ``super().validate(task)``.

        :raises InvalidParameterValue: (or MissingParameterValue) naming
            every field to fix; never a secret's value.
        """
        self.parse_driver_info(task)

    def check_config(self) -> None:
        """Raise :class:`ConfigInvalid` naming the option if config is unusable.

        Called once when the implementation is loaded, so a bad option stops
        start-up instead of failing the first request.
        """
        return None

    # controllers

    def controller_key(self, task: Task) -> str | None:
        """The controller this node's calls go through, or None.

        Built from driver_info alone (never asks the hardware), and the same
        for the same driver_info every time: it names the queue.

        Calls of every interface that name the same key share one queue, so
        a PDU with 24 outlets or a fragile BMC is never flooded. Return e.g.
        ``"snmp:10.0.0.5:161"``.
        """
        return None

    def controller_limits(self) -> ControllerLimits:
        """:class:`ControllerLimits` for this implementation's controllers.

        From ``[<config_group>] max_concurrency`` and ``min_command_interval``.
        """
        if self.config_group is None:
            return UNLIMITED
        group = CONF[self.config_group]
        return ControllerLimits(group.max_concurrency, group.min_command_interval)

    def retry_timeout(self) -> float:
        """Seconds connection and action errors are retried for (0: never).

        ``[<config_group>] command_retry_timeout``, when the group has it;
        see :mod:`hwdrivers.drivers.retry`.
        """
        if self.config_group is None:
            return 0.0
        return getattr(CONF[self.config_group], "command_retry_timeout", 0.0)

    # steps

    def _steps(self, kind):
        steps = []
        store = self._clean_steps if kind == "clean" else self._deploy_steps
        for name, func in sorted(store.items()):
            step = {
                "step": name,
                "priority": getattr(func, "_%s_step_priority" % kind),
                "argsinfo": getattr(func, "_%s_step_argsinfo" % kind),
                "interface": self.interface_type,
            }
            if kind == "clean":
                step["abortable"] = func._clean_step_abortable
            steps.append(step)
        return steps

    def get_clean_steps(self, task: Task) -> list[dict[str, Any]]:
        """Every clean step of this interface, enabled or not (priority 0)."""
        return self._steps("clean")

    def get_deploy_steps(self, task: Task) -> list[dict[str, Any]]:
        return self._steps("deploy")

    def _execute_step(self, kind, task, step):
        store = self._clean_steps if kind == "clean" else self._deploy_steps
        name = step.get("step") if isinstance(step, dict) else None
        if name not in store:
            raise exception.InvalidParameterValue(
                "Node %s: %s interface %s has no %s step %r; known steps: %s" % (
                    task.node.uuid, self.interface_type, self.implementation_name,
                    kind, name, ", ".join(sorted(store)) or "none"))
        args = step.get("args") or {}
        argsinfo = getattr(store[name], "_%s_step_argsinfo" % kind) or {}
        unknown = sorted(set(args) - set(argsinfo))
        missing = sorted(a for a, info in argsinfo.items()
                         if info.get("required") and a not in args)
        if unknown or missing:
            raise exception.InvalidParameterValue(
                "Node %s: %s step %s: %s" % (
                    task.node.uuid, kind, name, "; ".join(filter(None, [
                        unknown and "unknown argument(s) %s" % ", ".join(unknown),
                        missing and "missing argument(s) %s" % ", ".join(missing)]))))
        return getattr(self, name)(task, **args)

    def execute_clean_step(self, task: Task, step):
        """Run one clean step; None when done, or a wait state when async."""
        return self._execute_step("clean", task, step)

    def execute_deploy_step(self, task: Task, step):
        return self._execute_step("deploy", task, step)

    # helpers for implementations

    def unsupported(self, task: Task, action: str) -> exception.UnsupportedDriverExtension:
        """The error to raise for an action this implementation cannot do."""
        return exception.UnsupportedDriverExtension(
            node=task.node.uuid, interface=self.interface_type,
            implementation=self.implementation_name, action=action)


# -- core interfaces -----------------------------------------------------------

class PowerInterface(BaseInterface):
    """Turn a node on and off and read its state."""

    interface_type = "power"

    #: Every target this implementation can ever accept, declared so the API
    #: refuses an impossible request at once without asking the hardware
    #: (a request thread never waits on a controller). None: not declared,
    #: every target passes that first check. :meth:`get_supported_power_states`
    #: narrows it per node, in a worker, and may ask the controller.
    power_states: tuple[PowerState, ...] | None = None

    @abc.abstractmethod
    def get_power_state(self, task: Task) -> PowerState:
        """Return :class:`PowerState` ``ON`` or ``OFF`` (or ``ERROR``).

        :raises DriverError: a class of the taxonomy in
            :mod:`hwdrivers.common.exception` (connection, auth, action...).
        """

    @abc.abstractmethod
    def set_power_state(self, task: Task, power_state: PowerState,
                        timeout: float | None = None) -> None:
        """Act towards ``power_state`` (ON, OFF, SOFT_OFF, REBOOT, SOFT_REBOOT).

        The conductor verifies the resulting state afterwards, so a driver
        whose hardware acts asynchronously may return once it has asked.

        :raises InvalidPowerState: a target this node cannot take.
        :raises DriverError: a class of the taxonomy.
        """

    @abc.abstractmethod
    def reboot(self, task: Task, timeout: float | None = None) -> None:
        """Power cycle, ending ON.

        :raises DriverError: a class of the taxonomy.
        """

    def get_supported_power_states(self, task: Task) -> list[PowerState]:
        """The targets ``set_power_state`` accepts for this node.

        Called in a worker, never in an API request: it may ask the
        controller (Redfish reads the system's allowed reset types).
        """
        return list(self.power_states or (PowerState.ON, PowerState.OFF, PowerState.REBOOT))


class ManagementInterface(BaseInterface):
    """Boot device, sensors and NMI."""

    interface_type = "management"

    @abc.abstractmethod
    def get_supported_boot_devices(self, task: Task) -> list[str]:
        """Boot devices (names from :mod:`hwdrivers.common.boot_devices`)."""

    @abc.abstractmethod
    def set_boot_device(self, task: Task, device: str, persistent: bool = False) -> None:
        """Boot from ``device`` next time (and every time when persistent).

        :raises InvalidBootDevice: a device this node cannot boot from.
        :raises DriverError: a class of the taxonomy.
        """

    @abc.abstractmethod
    def get_boot_device(self, task: Task) -> dict[str, Any]:
        """``{"boot_device": name or None, "persistent": bool or None}``.

        None means the hardware cannot tell.

        :raises DriverError: a class of the taxonomy.
        """

    def get_sensors_data(self, task: Task) -> dict[str, Any]:
        """``{sensor type: {sensor name: {reading...}}}``.

        :raises UnsupportedDriverExtension: by default.
        """
        raise self.unsupported(task, "sensor data")

    def inject_nmi(self, task: Task) -> None:
        raise self.unsupported(task, "NMI injection")


class BootInterface(BaseInterface):
    """Prepare what the node boots: ramdisk for deploy/clean, the instance."""

    interface_type = "boot"

    #: Whether prepare_ramdisk really boots the deploy ramdisk. One that boots
    #: nothing (``noop``) sets False, so the agent deploy and agent inspection
    #: refuse it at validation instead of waiting out [deploy] callback_timeout.
    boots_ramdisk: bool = True

    @abc.abstractmethod
    def prepare_ramdisk(self, task: Task, ramdisk_params):
        pass

    @abc.abstractmethod
    def clean_up_ramdisk(self, task: Task):
        pass

    @abc.abstractmethod
    def prepare_instance(self, task: Task):
        pass

    @abc.abstractmethod
    def clean_up_instance(self, task: Task):
        pass


class DeployInterface(BaseInterface):
    """Put an instance on the node and take it off."""

    interface_type = "deploy"

    @abc.abstractmethod
    def deploy(self, task: Task):
        """Deploy; return None when done or a wait state when asynchronous."""

    @abc.abstractmethod
    def tear_down(self, task: Task):
        """Undeploy; return the resulting provision state or None."""

    @abc.abstractmethod
    def prepare(self, task: Task):
        pass

    @abc.abstractmethod
    def clean_up(self, task: Task):
        pass

    @abc.abstractmethod
    def take_over(self, task: Task):
        """Adopt a node whose previous conductor died."""

    def prepare_cleaning(self, task: Task):
        return None

    def tear_down_cleaning(self, task: Task):
        return None

    def heartbeat(self, task: Task, callback_url):
        raise self.unsupported(task, "heartbeat")


# -- optional interfaces -------------------------------------------------------

class ConsoleInterface(BaseInterface):
    interface_type = "console"

    @abc.abstractmethod
    def start_console(self, task: Task):
        pass

    @abc.abstractmethod
    def stop_console(self, task: Task):
        pass

    @abc.abstractmethod
    def get_console(self, task: Task):
        """Connection information for the console, as a dict."""


class InspectInterface(BaseInterface):
    interface_type = "inspect"

    @abc.abstractmethod
    def inspect_hardware(self, task: Task):
        """Discover properties; return the resulting provision state or None."""


class RAIDInterface(BaseInterface):
    interface_type = "raid"

    @abc.abstractmethod
    def create_configuration(self, task: Task, create_root_volume=True,
                             create_nonroot_volumes=True):
        pass

    @abc.abstractmethod
    def delete_configuration(self, task: Task):
        pass

    def validate_raid_config(self, task: Task, raid_config):
        if not isinstance(raid_config, dict) or not isinstance(
                raid_config.get("logical_disks"), list):
            raise exception.InvalidParameterValue(
                "Node %s: raid_config must be {\"logical_disks\": [...]}" % task.node.uuid)

    def get_logical_disk_properties(self):
        return {}


class BIOSInterface(BaseInterface):
    interface_type = "bios"

    @abc.abstractmethod
    def apply_configuration(self, task: Task, settings):
        pass

    @abc.abstractmethod
    def factory_reset(self, task: Task):
        pass

    @abc.abstractmethod
    def cache_bios_settings(self, task: Task):
        pass


class RescueInterface(BaseInterface):
    interface_type = "rescue"

    @abc.abstractmethod
    def rescue(self, task: Task):
        pass

    @abc.abstractmethod
    def unrescue(self, task: Task):
        pass


def passthru(http_methods, async_call=True, description=None, attach=False,
             require_exclusive_lock=True):
    """Publish a vendor method through vendor passthru.

    :param http_methods: e.g. ``["POST"]``; the API allows only these.
    :param async_call: run in a worker and answer 202 (True) or run inline
        and answer 200 with the return value (False).
    :param attach: return the value as a file attachment.
    """
    if (not isinstance(http_methods, (list, tuple)) or not http_methods
            or not all(m in ("GET", "POST", "PUT", "PATCH", "DELETE") for m in http_methods)):
        raise ValueError("passthru http_methods must be a non-empty list of "
                         "GET, POST, PUT, PATCH, DELETE; got %r" % (http_methods,))

    def decorator(func):
        func._vendor_metadata = {
            "http_methods": list(http_methods),
            "async": bool(async_call),
            "description": description or (inspect.getdoc(func) or "").split("\n")[0],
            "attach": bool(attach),
            "require_exclusive_lock": bool(require_exclusive_lock),
        }
        return func
    return decorator


class VendorInterface(BaseInterface):
    """Vendor-specific methods, called by name through passthru."""

    interface_type = "vendor"

    def __init__(self):
        super().__init__()
        self.vendor_routes = {}
        for attr_name, member in inspect.getmembers(type(self), inspect.isfunction):
            metadata = getattr(member, "_vendor_metadata", None)
            if metadata is not None:
                self.vendor_routes[attr_name] = dict(metadata, func=getattr(self, attr_name))

    def validate(self, task: Task, method=None, **kwargs):
        super().validate(task)
        if method is not None and method not in self.vendor_routes:
            raise exception.InvalidParameterValue(
                "Node %s: vendor method %r does not exist; methods: %s" % (
                    task.node.uuid, method, ", ".join(sorted(self.vendor_routes)) or "none"))

    def call(self, task: Task, method, http_method="POST", **kwargs):
        """Run ``method`` after checking it exists and accepts ``http_method``."""
        self.validate(task, method=method, **kwargs)
        route = self.vendor_routes[method]
        if http_method not in route["http_methods"]:
            raise exception.InvalidParameterValue(
                "Node %s: vendor method %s accepts %s, not %s" % (
                    task.node.uuid, method, ", ".join(route["http_methods"]), http_method))
        return route["func"](task, **kwargs)


#: Interface class by kind, for the loader's type checks.
INTERFACE_CLASSES = {
    cls.interface_type: cls
    for cls in (PowerInterface, ManagementInterface, BootInterface, DeployInterface,
                ConsoleInterface, InspectInterface, RAIDInterface, BIOSInterface,
                VendorInterface, RescueInterface)
}
