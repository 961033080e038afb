"""Checks every power and management interface must pass, run against a live peer.

A driver author points these at their own driver and a running controller
(one of :mod:`hwdrivers.testing`'s emulators, or their own) in one line::

    conformance.check_power("my-type", {"my_address": ..., "my_password": ...})

or as a unittest/testtools/pytest class, one test per check::

    class TestMyPower(conformance.PowerConformance, unittest.TestCase):
        hardware_type = "my-type"

        def driver_info(self):
            return {"my_address": ..., "my_password": ...}

What they hold a driver to (each check's docstring says how):

- ``validate`` never touches the hardware (no network connection, no
  datagram, no host name lookup), and refuses a driver_info missing its
  required fields;
- every declared parameter appears in ``get_properties()``, and every key
  of a working driver_info is declared;
- the values of secret fields never appear in any error or log line, even
  when the controller refuses them or cannot be reached, nor in the command
  line of a program the driver starts (``ps`` shows it to every user), nor
  in what the driver leaves on the node outside driver_info
  (``driver_internal_info``..., which the API shows unmasked);
- ``set_power_state`` then ``get_power_state`` agree (the check polls, so
  asynchronous hardware passes); ``set_boot_device`` then
  ``get_boot_device`` agree;
- a power state or boot device the interface does not list raises a typed
  error (:class:`~hwdrivers.common.exception.InvalidPowerState`,
  ``InvalidBootDevice``, ``DriverUnsupportedAction``...);
- errors from an unreachable controller belong to the taxonomy
  (:data:`hwdrivers.common.exception.TAXONOMY`), and are not its bare
  ``DriverError``, which is never retried (a ``get_boot_device`` answering
  None, "cannot tell", asked no controller and passes);
- the controller key is stable: the same for the same driver_info, never
  holding a secret, not changed by the secret's value.

The driver runs in a :class:`~hwdrivers.drivers.task.StandaloneTask` with
only the hardware type and its interfaces enabled (a
:class:`~hwdrivers.testing.config.ConfigFixture` resets hwdrivers' options
for the duration), called directly, without the framework's retries.
"""

import contextlib
import dataclasses
import functools
import importlib.metadata
import ipaddress
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from unittest import mock

from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import factory
from hwdrivers.drivers import task as driver_task
from hwdrivers.testing import blackhole
from hwdrivers.testing import config as config_fixture

__all__ = ["Subject", "POWER_CHECKS", "MANAGEMENT_CHECKS", "check_power",
           "check_management", "run", "PowerConformance", "ManagementConformance",
           "default_unreachable"]

#: What a target that is not supported may raise.
_REFUSALS = (exception.InvalidParameterValue, exception.DriverUnsupportedAction,
             exception.UnsupportedDriverExtension)
_TARGETS = (PowerState.ON, PowerState.OFF, PowerState.REBOOT, PowerState.SOFT_OFF,
            PowerState.SOFT_REBOOT)


def default_unreachable(schema, driver_info: dict, host: str, port: int) -> dict | None:
    """``driver_info`` with every ``address`` field set to ``host`` and every
    ``port`` field to ``port``; None when the schema declares neither (then
    the author says how to reach nothing, or the check does not apply).
    """
    changed = dict(driver_info)
    found = False
    for param in schema:
        if param.type == "address":
            changed[param.name], found = host, True
        elif param.type == "port":
            changed[param.name] = port
    return changed if found else None


@dataclasses.dataclass
class Subject:
    """The driver under test and a controller it reaches.

    :param hardware_type: the entry-point name of its hardware type.
    :param driver_info: a driver_info that works against a running controller.
    :param interfaces: ``{kind: implementation}`` to use instead of the
        hardware type's first supported one (``{"power": "my-power"}``).
    :param unreachable: ``unreachable(host, port)`` -> driver_info pointing
        at a controller that refuses (default: :func:`default_unreachable`).
    :param power_timeout: seconds a power change may take to show.
    :param one_time_boot_readable: False when the controller reports a
        one-time boot device as persistent (sushy-tools' emulator keeps no
        "Once"): the check then compares only the device for one-time sets.
    :param config: options the driver needs, as
        :meth:`~hwdrivers.testing.config.ConfigFixture.set` takes them
        (``{"mydriver__timeout": 5}``); the rest stay at their defaults.
    """

    hardware_type: str
    driver_info: dict
    interfaces: dict = dataclasses.field(default_factory=dict)
    unreachable: Callable[[str, int], dict | None] | None = None
    power_timeout: float = 60.0
    config: dict = dataclasses.field(default_factory=dict)
    one_time_boot_readable: bool = True

    def task(self, driver_info: dict | None = None) -> driver_task.StandaloneTask:
        """A task over an in-memory node with ``driver_info`` (default: the working one)."""
        fields = {"%s_interface" % kind: name for kind, name in self.interfaces.items()}
        return driver_task.StandaloneTask.for_driver(
            self.hardware_type, dict(self.driver_info if driver_info is None else driver_info),
            registry=factory.get_registry(), name="conformance", **fields)

    def secrets(self, task) -> dict:
        """``{field: value}`` of the secret fields set in the working driver_info,
        each as text (a PIN declared ``int`` is searched for as its digits)."""
        schema = task.driver.schema_for(self.driver_info)
        return {name: str(value) for name, value in self.driver_info.items()
                if name in schema.secret_names and value not in (None, "")}

    def unreachable_info(self, task, host: str, port: int) -> dict | None:
        if self.unreachable is not None:
            return self.unreachable(host, port)
        return default_unreachable(task.driver.schema_for(self.driver_info),
                                   self.driver_info, host, port)


def enable(subject: Subject, config: config_fixture.ConfigFixture) -> None:
    """Enable only the subject's hardware type and the interfaces it will use."""
    entry = [e for e in importlib.metadata.entry_points(
        group=interface_types.HARDWARE_TYPES_NAMESPACE) if e.name == subject.hardware_type]
    if not entry:
        raise AssertionError("no hardware type %r in entry points %s: is the package "
                             "installed?" % (subject.hardware_type,
                                             interface_types.HARDWARE_TYPES_NAMESPACE))
    try:
        hardware = entry[0].load()()
    except Exception as exc:  # noqa: BLE001 (the author's plugin: say which and why)
        raise AssertionError("hardware type %r (%s) cannot be loaded: %s: %s" % (
            subject.hardware_type, entry[0].value, type(exc).__name__, exc)) from exc
    options = {"enabled_hardware_types": [subject.hardware_type]}
    for kind in interface_types.ALL:
        supported = hardware.supported_interfaces(kind)
        chosen = subject.interfaces.get(kind) or (supported[0] if supported else None)
        if chosen is None:
            raise AssertionError(
                "hardware type %r lists no %s interface: set supported_%s_interfaces "
                "on its class (e.g. (\"noop\",))" % (subject.hardware_type, kind, kind))
        options["enabled_%s_interfaces" % kind] = [chosen]
    config.set(**dict(options, **subject.config))


# -- watching what a check does ------------------------------------------------------

class _Touched(BaseException):
    """Raised into a driver that opened a network connection where it must not.

    A BaseException, so a driver's ``except Exception`` cannot hide it.
    """


@contextlib.contextmanager
def _no_network(what: str):
    touched = []

    def refuse(name):
        def call(sock, *args, **kwargs):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                touched.append("%s(%s)" % (name, args[-1] if args else ""))
                raise _Touched(name)
            return getattr(socket.socket.__mro__[1], name)(sock, *args, **kwargs)
        return call

    def refuse_lookup(name):
        real = getattr(socket, name)

        def lookup(host, *args, **kwargs):
            # An IP literal asks no one; a host name is a DNS query, which
            # leaves the host and holds the API request when DNS is slow.
            text = os.fsdecode(host) if isinstance(host, (str, bytes)) else host
            if text not in (None, ""):  # None: a local (passive) address
                try:
                    ipaddress.ip_address(str(text).split("%", 1)[0])  # fe80::1%eth0
                except ValueError:
                    touched.append("socket.%s(%r)" % (name, text))
                    raise _Touched(name) from None
            return real(host, *args, **kwargs)
        return lookup

    with contextlib.ExitStack() as stack:
        for name in ("connect", "connect_ex", "sendto", "sendmsg"):
            stack.enter_context(mock.patch.object(socket.socket, name, refuse(name)))
        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
            stack.enter_context(mock.patch.object(socket, name, refuse_lookup(name)))
        try:
            yield
        except _Touched:
            pass
    assert not touched, "%s touched the network: %s" % (what, ", ".join(touched))


class _Logs(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        try:
            self.lines.append(record.getMessage() + "\n" + (
                logging.Formatter().formatException(record.exc_info)
                if record.exc_info else ""))
        except Exception:  # noqa: BLE001 (a bad log call is the driver's, not ours)
            self.lines.append(str(record.msg))


#: Audit events that start a program, and where their command line is.
_EXEC_EVENTS = {"subprocess.Popen": 1, "os.exec": 1, "os.posix_spawn": 1, "os.spawn": 2,
                "os.system": 0}
#: The lists of the _watch_argv blocks running now; the audit hook appends to each.
_argv_watchers: list[list] = []
_hook_lock = threading.Lock()
_hook_added = False


def _audit(event, args):
    if _argv_watchers and event in _EXEC_EVENTS:
        argv = args[_EXEC_EVENTS[event]]
        words = [argv] if isinstance(argv, (str, bytes)) else list(argv or ())
        for watcher in list(_argv_watchers):
            watcher.append([os.fsdecode(w) if isinstance(w, bytes) else str(w)
                            for w in words])


@contextlib.contextmanager
def _watch_argv():
    """The command lines of the programs started meanwhile, in this process.

    Through an audit hook (PEP 578: ``subprocess.Popen``, ``os.exec``,
    ``os.posix_spawn``...), added once and idle outside these blocks, since
    an audit hook cannot be removed.
    """
    global _hook_added
    with _hook_lock:
        if not _hook_added:
            sys.addaudithook(_audit)
            _hook_added = True
    seen = []
    _argv_watchers.append(seen)
    try:
        yield seen
    finally:
        _argv_watchers.remove(seen)


@contextlib.contextmanager
def _watch_secrets(secrets: list[str]):
    """Fail if any log line written meanwhile, or the command line of any
    program started meanwhile, holds one of ``secrets``."""
    handler = _Logs()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with _watch_argv() as argvs:
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    for line in handler.lines:
        for secret in secrets:
            assert secret not in line, "a log line holds a secret's value: %r" % (
                line.replace(secret, "<SECRET>"),)
    for argv in argvs:
        line = " ".join(argv)
        for secret in secrets:
            assert secret not in line, (
                "a command line holds a secret's value, which every user of the host "
                "reads in ps: %r; pass it on stdin, in the environment or in a file "
                "only its owner reads" % (line.replace(secret, "<SECRET>"),))


def _assert_not_stored(task, secrets: list[str], what: str) -> None:
    """No secret's value in what the driver left on the node outside driver_info.

    driver_internal_info (and properties, instance_info) are shown as they
    are by the API and the CLI, unmasked: only driver_info's secret fields
    are masked.
    """
    for field in ("driver_internal_info", "properties", "instance_info"):
        text = json.dumps(getattr(task.node, field, None) or {}, default=str,
                          ensure_ascii=False)
        for secret in secrets:
            assert secret not in text, (
                "%s: node.%s holds a secret's value, and the API shows it unmasked: %s; "
                "keep secrets in driver_info only" % (
                    what, field, text.replace(secret, "<SECRET>")[:500]))


def _text(exc: BaseException) -> str:
    """Everything an error shows: its message, args and causes."""
    parts = []
    while exc is not None and len(parts) < 10:
        parts.extend([str(exc), repr(exc)] + [repr(a) for a in exc.args])
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def _assert_no_secret(exc: BaseException, secrets: list[str], what: str) -> None:
    text = _text(exc)
    for secret in secrets:
        assert secret not in text, "%s: the error holds a secret's value: %s" % (
            what, text.replace(secret, "<SECRET>")[:500])


def _assert_taxonomy(exc: BaseException, what: str) -> None:
    assert type(exc) in exception.TAXONOMY.values(), (
        "%s raised %s, not one of the taxonomy's classes (%s): %s" % (
            what, type(exc).__name__,
            ", ".join(sorted(c.__name__ for c in exception.TAXONOMY.values())), exc))


def _assert_not_fatal(exc: BaseException, what: str) -> None:
    """The taxonomy's bare DriverError (fatalError) is never retried: a
    controller that does not answer must not end an operation at the first
    try. It is also what an external driver's unknown error code becomes
    (``connectionError`` for ``connError``), which the taxonomy check alone
    let pass."""
    assert type(exc) is not exception.DriverError, (
        "%s raised DriverError (fatalError, never retried): %s; a controller that does "
        "not answer is a DriverConnectionError (external drivers: error code connError), "
        "which is retried" % (what, exc))


# -- the checks (each takes a Subject; run them inside run()) ------------------------

def _validate_never_touches_hardware(subject: Subject, kind: str) -> None:
    task = subject.task()
    iface = getattr(task.driver, kind)
    with _no_network("%s.validate" % kind):
        iface.validate(task)
    with blackhole.ClosedPortFixture("tcp") as closed:
        info = subject.unreachable_info(task, closed.peer.host, closed.peer.port)
        if info is not None:
            other = subject.task(info)
            with _no_network("%s.validate of an unreachable controller" % kind):
                getattr(other.driver, kind).validate(other)
    required = [p.name for p in iface.driver_info_schema_for({}) if p.required]
    if required:
        empty = subject.task({})
        with _no_network("%s.validate of an empty driver_info" % kind):
            try:
                getattr(empty.driver, kind).validate(empty)
            except exception.InvalidParameterValue as exc:
                missing = [name for name in required if name not in str(exc)]
                assert not missing, "the error does not name %s: %s" % (missing, exc)
            else:
                raise AssertionError("validate accepted a driver_info without its "
                                     "required fields %s" % required)


def _properties_declare_every_parameter(subject: Subject, kind: str) -> None:
    task = subject.task()
    iface = getattr(task.driver, kind)
    properties = iface.get_properties()
    # The static declaration: a per-node schema (the external driver's fields,
    # read from the executable a node names) is checked by the next assertion.
    for param in iface.driver_info_schema:
        assert param.name in properties, (
            "%s declares %s but get_properties() does not list it" % (kind, param.name))
        assert isinstance(properties[param.name], str) and properties[param.name].strip(), (
            "get_properties()[%r] must describe the field" % param.name)
    undeclared = task.driver.schema_for(subject.driver_info).undeclared(subject.driver_info)
    assert not undeclared, ("driver_info keys no interface declares: %s" % sorted(undeclared))


def _secrets_never_shown(subject: Subject, kind: str) -> None:
    task = subject.task()
    secrets = subject.secrets(task)
    if not secrets:
        return
    marker = "Conformance-%s" % uuid.uuid4().hex
    wrong = dict(subject.driver_info, **{name: marker for name in secrets})
    watched = list(secrets.values()) + [marker]
    calls = [("validate", ())]
    # The writes too: a driver's set path may build its own error, and one that
    # cannot read a boot device back asks the hardware only when it sets one.
    if kind == "power":
        calls += [("get_power_state", ()), ("set_power_state", (PowerState.ON,))]
    else:
        calls += [("get_boot_device", ()), ("get_supported_boot_devices", ())]
        supported = task.driver.management.get_supported_boot_devices(task)
        calls += [("set_boot_device", (device,)) for device in
                  (boot_devices.PXE, boot_devices.DISK) if device in supported][:1]
    with _watch_secrets(watched):
        bad = subject.task(wrong)
        iface = getattr(bad.driver, kind)
        for name, args in calls:
            try:
                getattr(iface, name)(bad, *args)
            except Exception as exc:  # noqa: BLE001 (any error: check its text)
                _assert_no_secret(exc, watched, "%s.%s with a refused secret" % (kind, name))
        _assert_not_stored(bad, watched, "%s calls with a refused secret" % kind)
        broken = dict(wrong)
        schema = getattr(task.driver, kind).driver_info_schema_for(subject.driver_info)
        for param in schema:
            if param.type in ("int", "port", "float", "bool", "address") and not param.secret:
                broken[param.name] = "not valid!"
        other = subject.task(broken)
        try:
            getattr(other.driver, kind).validate(other)
        except Exception as exc:  # noqa: BLE001
            _assert_no_secret(exc, watched, "%s.validate of a broken driver_info" % kind)
        with blackhole.ClosedPortFixture("tcp") as closed:
            info = subject.unreachable_info(task, closed.peer.host, closed.peer.port)
            if info is not None:
                far = subject.task(info)
                name = "get_power_state" if kind == "power" else "get_boot_device"
                try:
                    getattr(getattr(far.driver, kind), name)(far)
                except Exception as exc:  # noqa: BLE001
                    _assert_no_secret(exc, watched, "%s.%s, unreachable" % (kind, name))


def _errors_belong_to_taxonomy(subject: Subject, kind: str) -> None:
    task = subject.task()
    with blackhole.ClosedPortFixture("tcp") as closed:
        info = subject.unreachable_info(task, closed.peer.host, closed.peer.port)
        if info is None:
            return  # nothing to point elsewhere: the driver talks to no controller
        far = subject.task(info)
        iface = getattr(far.driver, kind)
        calls = ([("get_power_state", ()), ("set_power_state", (PowerState.ON,))]
                 if kind == "power" else [("get_boot_device", ()),
                                          ("set_boot_device", (boot_devices.PXE,))])
        for name, args in calls:
            try:
                answer = getattr(iface, name)(far, *args)
            except Exception as exc:  # noqa: BLE001 (checked below)
                what = "%s.%s of an unreachable controller" % (kind, name)
                _assert_taxonomy(exc, what)
                _assert_not_fatal(exc, what)
            else:
                if (name == "get_boot_device" and isinstance(answer, dict)
                        and answer.get("boot_device") is None):
                    # "Cannot tell" (an external driver: the protocol cannot read
                    # the boot order back) asked no controller, so had none to miss.
                    continue
                raise AssertionError("%s.%s succeeded against a port that refuses "
                                     "(%s:%d)" % (kind, name, closed.peer.host,
                                                  closed.peer.port))


def _controller_key_is_stable(subject: Subject, kind: str) -> None:
    task = subject.task()
    iface = getattr(task.driver, kind)
    key = iface.controller_key(task)
    assert key is None or (isinstance(key, str) and key), "controller_key: %r" % (key,)
    assert iface.controller_key(task) == key, "controller_key changed between two calls"
    again = subject.task()
    assert getattr(again.driver, kind).controller_key(again) == key, (
        "controller_key differs for the same driver_info")
    secrets = subject.secrets(task)
    for value in secrets.values():
        assert value not in (key or ""), "controller_key holds a secret's value"
    if secrets:
        other = subject.task(dict(subject.driver_info, **{n: "Other-Secret-1" for n in secrets}))
        assert getattr(other.driver, kind).controller_key(other) == key, (
            "controller_key changes with the secret: it must name the controller only")


def _wait_for(get, expected, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        current = get()
        if current == expected:
            return
        if time.monotonic() >= deadline:
            raise AssertionError("%s: still %r after %ss, expected %r"
                                 % (what, current, timeout, expected))
        time.sleep(0.1)


def validate_never_touches_the_hardware(subject: Subject) -> None:
    """``power.validate`` opens no network connection and looks up no host
    name, for a working controller or an unreachable one, and refuses an
    empty driver_info naming every required field."""
    _validate_never_touches_hardware(subject, "power")


def every_parameter_in_get_properties(subject: Subject) -> None:
    """Every declared parameter is in ``get_properties()``; every key is declared."""
    _properties_declare_every_parameter(subject, "power")


def secrets_never_in_errors_or_logs(subject: Subject) -> None:
    """A secret's value is in no error, no log line and no command line of a
    program the driver starts: with a refused secret (reading and setting the
    power state), a broken driver_info or an unreachable controller; nor in
    the node's driver_internal_info."""
    _secrets_never_shown(subject, "power")


def set_then_get_power_state_agree(subject: Subject) -> None:
    """Each supported target (on, off, reboot) and ``reboot()`` show in
    ``get_power_state`` within ``power_timeout``."""
    task = subject.task()
    power = task.driver.power
    supported = power.get_supported_power_states(task)
    with _watch_secrets(list(subject.secrets(task).values())):
        # On, then off, then on again through a reboot: whatever the start,
        # each direction is asked for at least once from the other state.
        for target in [t for t in (PowerState.ON, PowerState.OFF, PowerState.REBOOT)
                       if t in supported]:
            power.set_power_state(task, target)
            _wait_for(lambda: power.get_power_state(task), target.resting,
                      subject.power_timeout, "after set_power_state(%s)" % target.value)
        power.reboot(task)
        _wait_for(lambda: power.get_power_state(task), PowerState.ON,
                  subject.power_timeout, "after reboot()")
    _assert_not_stored(task, list(subject.secrets(task).values()), "after the power calls")


def unsupported_states_raise_typed_errors(subject: Subject) -> None:
    """A target ``get_supported_power_states`` does not list raises a typed
    error (InvalidPowerState, DriverUnsupportedAction...), not a crash."""
    task = subject.task()
    power = task.driver.power
    supported = power.get_supported_power_states(task)
    for state in supported:
        assert isinstance(state, PowerState), "supported states must be PowerState: %r" % (
            state,)
    for target in [t for t in _TARGETS if t not in supported]:
        _must_refuse(functools.partial(power.set_power_state, task, target),
                     "set_power_state(%s)" % target.value,
                     "InvalidPowerState or DriverUnsupportedAction",
                     "is not in get_supported_power_states()")


def _must_refuse(call, action, errors, why):
    """``call()`` must raise one of the typed refusals; AssertionError naming ``action``."""
    try:
        call()
    except _REFUSALS:
        return
    except Exception as exc:  # noqa: BLE001
        raise AssertionError("%s, unsupported, raised %s: %s; raise %s"
                             % (action, type(exc).__name__, exc, errors)) from exc
    raise AssertionError("%s %s but was accepted" % (action, why))


def errors_belong_to_the_taxonomy(subject: Subject) -> None:
    """Against a port that refuses, the power calls raise a taxonomy class."""
    _errors_belong_to_taxonomy(subject, "power")


def controller_key_is_stable(subject: Subject) -> None:
    """Same driver_info, same key; no secret in it; not changed by the secret."""
    _controller_key_is_stable(subject, "power")


def management_validate_never_touches_the_hardware(subject: Subject) -> None:
    """``management.validate`` opens no network connection."""
    _validate_never_touches_hardware(subject, "management")


def management_parameters_in_get_properties(subject: Subject) -> None:
    """Every declared parameter is in ``get_properties()``."""
    _properties_declare_every_parameter(subject, "management")


def management_secrets_never_in_errors_or_logs(subject: Subject) -> None:
    """A secret's value is in no management error and no log line, reading
    and setting the boot device with a refused secret."""
    _secrets_never_shown(subject, "management")


def set_then_get_boot_device_agree(subject: Subject) -> None:
    """PXE and disk (those supported), set then read back, agree (None: cannot tell)."""
    task = subject.task()
    management = task.driver.management
    supported = management.get_supported_boot_devices(task)
    assert supported, "get_supported_boot_devices() is empty"
    unknown = [d for d in supported if d not in boot_devices.ALL]
    assert not unknown, "unknown boot devices %s; use hwdrivers.common.boot_devices" % (
        unknown,)
    with _watch_secrets(list(subject.secrets(task).values())):
        for device in [d for d in (boot_devices.PXE, boot_devices.DISK) if d in supported]:
            for persistent in (False, True):
                management.set_boot_device(task, device, persistent=persistent)
                got = management.get_boot_device(task)
                assert set(got) >= {"boot_device", "persistent"}, got
                assert got["boot_device"] in (device, None), (
                    "set_boot_device(%s, persistent=%s), then get_boot_device() says %r"
                    % (device, persistent, got))
                if persistent or subject.one_time_boot_readable:
                    assert got["persistent"] in (persistent, None), (
                        "set_boot_device(%s, persistent=%s), then get_boot_device() says "
                        "%r" % (device, persistent, got))
    _assert_not_stored(task, list(subject.secrets(task).values()),
                       "after the boot device calls")


def unsupported_boot_devices_raise_typed_errors(subject: Subject) -> None:
    """A device not in ``get_supported_boot_devices`` raises a typed error."""
    task = subject.task()
    management = task.driver.management
    supported = management.get_supported_boot_devices(task)
    for device in [d for d in boot_devices.ALL if d not in supported] + ["no-such-device"]:
        _must_refuse(functools.partial(management.set_boot_device, task, device),
                     "set_boot_device(%s)" % device,
                     "InvalidBootDevice or DriverUnsupportedAction", "is not supported")


def management_errors_belong_to_the_taxonomy(subject: Subject) -> None:
    """Against a port that refuses, the boot-device calls raise a taxonomy class."""
    _errors_belong_to_taxonomy(subject, "management")


def management_controller_key_is_stable(subject: Subject) -> None:
    """Same driver_info, same key; no secret in it."""
    _controller_key_is_stable(subject, "management")


POWER_CHECKS = (validate_never_touches_the_hardware, every_parameter_in_get_properties,
                secrets_never_in_errors_or_logs, set_then_get_power_state_agree,
                unsupported_states_raise_typed_errors, errors_belong_to_the_taxonomy,
                controller_key_is_stable)
MANAGEMENT_CHECKS = (management_validate_never_touches_the_hardware,
                     management_parameters_in_get_properties,
                     management_secrets_never_in_errors_or_logs,
                     set_then_get_boot_device_agree,
                     unsupported_boot_devices_raise_typed_errors,
                     management_errors_belong_to_the_taxonomy,
                     management_controller_key_is_stable)


def run(subject: Subject, checks=POWER_CHECKS) -> None:
    """Run ``checks`` against ``subject`` with only its driver enabled.

    :raises AssertionError: naming the first check that failed and why, also
        when the driver raised another error during it.
    """
    with config_fixture.ConfigFixture() as config:
        enable(subject, config)
        for check in checks:
            try:
                check(subject)
            except AssertionError as exc:
                raise AssertionError("conformance check %s failed: %s"
                                     % (check.__name__, exc)) from exc
            except Exception as exc:  # noqa: BLE001 (the driver's: say in which check)
                # A driver error escaping a check (the controller refused the
                # power on) names the check and what it asks, as a failed
                # assertion does; the traceback stays in __cause__.
                raise AssertionError("conformance check %s failed: the driver raised %s: "
                                     "%s (the check: %s)" % (
                                         check.__name__, type(exc).__name__, exc,
                                         " ".join((check.__doc__ or "").split()))) from exc


def check_power(hardware_type: str, driver_info: dict, **options: Any) -> None:
    """Every power check, in one call; ``options`` are :class:`Subject`'s."""
    run(Subject(hardware_type, driver_info, **options), POWER_CHECKS)


def check_management(hardware_type: str, driver_info: dict, **options: Any) -> None:
    """Every management check, in one call; ``options`` are :class:`Subject`'s."""
    run(Subject(hardware_type, driver_info, **options), MANAGEMENT_CHECKS)


# -- as test classes -------------------------------------------------------------------

class _Conformance:
    """Mix into a ``unittest.TestCase``; one test method per check."""

    hardware_type: str = None
    #: ``{kind: implementation}`` overriding the hardware type's first choice.
    interfaces: dict = {}
    #: Options the driver needs (``{"mydriver__timeout": 5}``).
    config_options: dict = {}
    power_timeout = 60.0
    #: False when the controller reports a one-time boot device as persistent
    #: (see :class:`Subject`).
    one_time_boot_readable = True

    def driver_info(self) -> dict:
        """A driver_info that works against a running controller."""
        raise NotImplementedError("return the driver_info of a running controller")

    def unreachable_driver_info(self, host: str, port: int) -> dict | None:
        """A driver_info pointing at ``host:port``, which refuses; default:
        :func:`default_unreachable` over the declared address and port fields."""
        return None

    def conformance_subject(self) -> Subject:
        unreachable = None
        if type(self).unreachable_driver_info is not _Conformance.unreachable_driver_info:
            unreachable = self.unreachable_driver_info
        return Subject(self.hardware_type, self.driver_info(), dict(self.interfaces),
                       unreachable, self.power_timeout, dict(self.config_options),
                       self.one_time_boot_readable)

    def setUp(self):
        super().setUp()
        config = config_fixture.ConfigFixture()
        config.setUp()
        self.addCleanup(config.cleanUp)
        self.conformance = self.conformance_subject()
        enable(self.conformance, config)


def _test_method(check):
    def test(self):
        check(self.conformance)
    test.__name__ = "test_%s" % check.__name__
    test.__doc__ = check.__doc__
    return test


class PowerConformance(_Conformance):
    """The power checks as test methods: subclass with ``unittest.TestCase``."""


class ManagementConformance(_Conformance):
    """The management checks as test methods: subclass with ``unittest.TestCase``."""


for _check in POWER_CHECKS:
    setattr(PowerConformance, "test_%s" % _check.__name__, _test_method(_check))
for _check in MANAGEMENT_CHECKS:
    setattr(ManagementConformance, "test_%s" % _check.__name__, _test_method(_check))
del _check
