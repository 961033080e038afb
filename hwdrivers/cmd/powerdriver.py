"""``hwdrivers-powerdriver <hardware-type>``: our drivers behind the JSON protocol.

The reverse of the external driver: any in-tree hardware type becomes an
executable speaking the MAAS power-driver protocol, so other systems (MAAS,
or our own external driver) can call it::

    hwdrivers-powerdriver ipmi schema
    hwdrivers-powerdriver fake-hardware power_on < params.json

``schema`` prints the fields generated from the hardware type's
declarations (secret ones flagged). Actions read ``{"driverParameters":
{...}}`` (the node's driver_info) from stdin or a file, run through a
database-free :class:`StandaloneTask` with the usual checks, retries and
verification, and print ``{"action_type", "error", "data"}``. As in the
seed's ``pd_main``, the exit status is 0 whenever an answer was printed,
errors included; 2 for usage errors; 1 when no answer could be made.
Secrets arrive on stdin only, and never appear in an answer.
"""

import argparse
import json
import logging
import sys
from importlib import metadata

from oslo_config import cfg

from hwdrivers import conf as hw_conf
from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import actions
from hwdrivers.drivers import factory
from hwdrivers.drivers import task as driver_task

CONF = hw_conf.CONF
LOG = logging.getLogger("hwdrivers.powerdriver")

ACTIONS = ("power_on", "power_off", "power_query", "set_boot_order", "probe")

#: Our parameter types -> MAAS setting field types.
MAAS_TYPES = {"str": "string", "address": "ip_address", "choice": "choice",
              "int": "int", "float": "float", "port": "port", "bool": "bool"}
_DEVICE_TYPES = {"NetworkInterface": boot_devices.PXE, "StorageDevice": boot_devices.DISK}


class ProtocolError(Exception):
    """An error to answer with ``code``."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def _entry_points(group):
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def build_registry(hw_name):
    """A registry with ``hw_name`` and every implementation it supports enabled.

    The caller chose the hardware type on the command line, so it is
    enabled whatever the config file says; driver options ([ipmi]...) still
    come from the config.
    """
    types = _entry_points(interface_types.HARDWARE_TYPES_NAMESPACE)
    if hw_name not in types:
        raise ProtocolError("settingsError", "unknown hardware type %s; installed: %s"
                            % (hw_name, ", ".join(sorted(types))))
    try:
        hw = types[hw_name].load()()
    except Exception as exc:  # noqa: BLE001 (a broken plugin is reported, not raised)
        raise ProtocolError("toolError", "hardware type %s cannot be loaded: %s: %s"
                            % (hw_name, type(exc).__name__, exc)) from None
    CONF.set_override("enabled_hardware_types", [hw_name])
    for kind in interface_types.ALL:
        installed = _entry_points(interface_types.NAMESPACE % kind)
        CONF.set_override("enabled_%s_interfaces" % kind,
                          [n for n in hw.supported_interfaces(kind) if n in installed])
    try:
        return factory.Registry(CONF)
    except exception.DriverLoadError as exc:
        raise ProtocolError("toolError", str(exc)) from None
    except exception.ConfigInvalid as exc:
        raise ProtocolError("settingsError", str(exc)) from None


def schema(registry, hw_name):
    """The protocol schema of ``hw_name`` from its default interfaces' declarations."""
    power = registry.interfaces["power"][registry.default_interface(hw_name, "power")]
    management = registry.interfaces["management"][
        registry.default_interface(hw_name, "management")]
    fields, address = [], None
    for param in power.driver_info_schema + management.driver_info_schema:
        field_type = "password" if param.secret and param.type == "str" else (
            MAAS_TYPES[param.type])
        field = {"name": param.name, "label": param.description,
                 "description": param.describe(), "field_type": field_type,
                 "type": param.type, "required": param.required, "secret": param.secret,
                 "default": param.default, "scope": "bmc"}
        if param.choices:
            field["choices"] = [[c, str(c)] for c in param.choices]
        if param.min is not None:
            field["min"] = param.min
        if param.max is not None:
            field["max"] = param.max
        if address is None and param.type == "address":
            address = param.name
        fields.append(field)
    return {"driver_type": "power", "name": hw_name,
            "description": registry.hardware_type(hw_name).description,
            "can_probe": False,
            "can_set_boot_order": management.name not in ("noop", None),
            "ip_extractor": {"field_name": address} if address else None,
            "fields": fields}


def _read_parameters(stream):
    try:
        document = json.load(stream)
    except ValueError as exc:
        raise ProtocolError("settingsError", "stdin is not JSON: %s" % exc) from None
    except RecursionError:  # bad input, not our failure: no traceback
        raise ProtocolError("settingsError", "stdin is not JSON: nested too deep") from None
    if not isinstance(document, dict) or not isinstance(
            document.get("driverParameters", {}), dict):
        raise ProtocolError("settingsError", 'stdin must be {"driverParameters": '
                                             '{field: value, ...}}')
    name = document.get("nodeName")
    if name is not None and not (isinstance(name, str) and name.isprintable()):
        # It names the node in every log line and error: text, or absent.
        raise ProtocolError("settingsError", "nodeName must be a string of printable "
                                             "characters (or left out), not %s"
                            % json.dumps(name)[:60])
    return document


def _boot_device(document):
    """The boot device a set_boot_order asks for; settingsError for malformed input.

    Every value is checked for its JSON type: a list where a string belongs
    is the caller's mistake, answered as such, not a TypeError.
    """
    device = document.get("bootDevice")
    if device:
        if not isinstance(device, str):
            raise ProtocolError("settingsError", "bootDevice must be a string such as "
                                                 '"pxe" or "disk", not %s' % json.dumps(device))
        return device
    devices = document.get("devices")
    if not isinstance(devices, list) or not devices:
        raise ProtocolError("settingsError", "set_boot_order needs devices: "
                                             '[{"deviceType": "NetworkInterface"|'
                                             '"StorageDevice", "properties": {...}}]')
    first = devices[0] if isinstance(devices[0], dict) else {}
    kind = first.get("deviceType")
    if not isinstance(kind, str) or kind not in _DEVICE_TYPES:
        raise ProtocolError("fatalError", 'unknown device type %s' % json.dumps(kind))
    return _DEVICE_TYPES[kind]


def act(registry, hw_name, action, document):
    """Run ``action``; its ``data`` (or None). Raises our errors."""
    info = document.get("driverParameters") or {}
    task = driver_task.StandaloneTask.for_driver(
        hw_name, driver_info=info, name=document.get("nodeName"), registry=registry)
    if action in ("power_on", "power_off"):
        task.driver.power.validate(task)
        actions.set_power_state(task, PowerState.ON if action == "power_on"
                                else PowerState.OFF)
        return None
    if action == "power_query":
        task.driver.power.validate(task)
        state = actions.get_power_state(task)
        return {"status": {PowerState.ON: "on", PowerState.OFF: "off"}.get(state, "error")}
    if action == "set_boot_order":
        management = task.driver.management
        if not management.get_supported_boot_devices(task):
            raise ProtocolError(
                "unsupportedActionError", "hardware type %s cannot set the boot order "
                "(management interface %s)" % (hw_name, management.implementation_name))
        device = _boot_device(document)
        persistent = document.get("persistent", True)
        if not isinstance(persistent, bool):  # "false" would read as true
            raise ProtocolError("settingsError", "persistent must be true or false, not %s"
                                % json.dumps(persistent))
        management.validate(task)
        actions.set_boot_device(task, device, persistent=persistent)
        return None
    raise ProtocolError("unsupportedActionError",
                        '"%s" action is not supported by hwdrivers-powerdriver' % action)


def _code(exc):
    """The protocol error code for one of our exceptions."""
    if isinstance(exc, ProtocolError):
        return exc.code
    if isinstance(exc, exception.DriverError):
        return exc.taxonomy
    if isinstance(exc, exception.UnsupportedDriverExtension):
        return "unsupportedActionError"
    if isinstance(exc, (exception.InvalidParameterValue, exception.ConfigInvalid)):
        return "settingsError"
    if isinstance(exc, exception.PowerStateFailure):
        return "actionError"
    return "fatalError"


#: How a caller of this protocol fixes a driver_info problem.
_PARAMETERS_FIX = "Fix them in the request's driverParameters."


def answer(hw_name, action, stream):
    """The protocol answer for ``action`` (never raises for a driver failure)."""
    response = {"action_type": action, "error": None}
    try:
        document = _read_parameters(stream)
        registry = build_registry(hw_name)
        data = act(registry, hw_name, action, document)
        if data is not None:
            response["data"] = data
    except (ProtocolError, exception.HWDriversError) as exc:
        if isinstance(exc, exception.InvalidParameterValue):
            # Its fix names 'hwdrivers node set', meaningless to this caller.
            exc = exc.reword(fix=_PARAMETERS_FIX)
        response["error"] = {"code": _code(exc), "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 (the protocol answers every failure)
        LOG.exception("%s %s failed", hw_name, action)
        response["error"] = {"code": "fatalError", "message": "%s: %s" % (
            type(exc).__name__, exc)}
    return response


def load_config(config_files):
    try:
        CONF([], project="hwdrivers",
             default_config_files=config_files if config_files else None)
    except cfg.Error as exc:
        raise ProtocolError("settingsError", "configuration: %s" % exc) from None


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hwdrivers-powerdriver",
        description="Expose an hwdrivers hardware type through the MAAS power-driver "
                    "JSON protocol.")
    parser.add_argument("--config-file", action="append", metavar="PATH",
                        help="hwdrivers configuration (driver options such as [ipmi]).")
    parser.add_argument("hardware_type", help="e.g. ipmi, redfish, snmp, fake-hardware")
    parser.add_argument("action", choices=("schema",) + ACTIONS)
    parser.add_argument("input", nargs="?", default="-",
                        help="File to read parameters from (default: stdin).")
    return parser


def main(argv=None):
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        load_config(args.config_file)
    except ProtocolError as exc:
        if args.action == "schema":
            sys.stderr.write("ERROR: %s\n" % exc)
            return 1
        print(json.dumps({"action_type": args.action, "error": {
            "code": exc.code, "message": str(exc)}}, indent=4, sort_keys=True))
        return 0
    if args.action == "schema":
        try:
            registry = build_registry(args.hardware_type)
            print(json.dumps(schema(registry, args.hardware_type), indent=4,
                             sort_keys=True))
        except (ProtocolError, exception.HWDriversError) as exc:
            sys.stderr.write("ERROR: %s\n" % exc)
            return 1
        return 0
    if args.input == "-":
        result = answer(args.hardware_type, args.action, sys.stdin)
    else:
        try:
            with open(args.input, encoding="utf-8") as stream:
                result = answer(args.hardware_type, args.action, stream)
        except OSError as exc:
            sys.stderr.write("ERROR: cannot read %s: %s\n" % (args.input, exc.strerror))
            return 2
    print(json.dumps(result, indent=4, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
