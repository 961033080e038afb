"""redfish power and management: BMCs driven over DMTF Redfish, through sushy.

A node names a BMC (``redfish_address``) and, when the BMC manages several
machines, one ComputerSystem (``redfish_system_id``). Power actions are
the system's ``ComputerSystem.Reset`` types, offered only when the system
lists them as allowed; the boot device is the system's boot source
override. Connections are reused across nodes and calls (see
:mod:`hwdrivers.drivers.modules.redfish_session`), and sushy is imported
only when a call needs it.
"""

import contextlib
import importlib.util
import os
import urllib.parse


from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import redfish_session


def parse_verify_ca(value):
    """True, False, or an existing CA bundle path; ValueError otherwise."""
    try:
        return params.parse_bool(value)
    except ValueError:
        pass
    path = os.path.expanduser(str(value).strip())
    if path and (os.path.isfile(path) or os.path.isdir(path)):
        return path
    raise ValueError("must be true, false, or the path of a CA bundle file or "
                     "directory that exists on the conductor")


class _VerifyCAParam(params.Param):
    """A ``str`` field that also takes JSON true/false, as Ironic's does.

    Declared through the schema (not checked on the side) so every caller of
    the schema -- node create and update included -- accepts a boolean and
    refuses a CA path that does not exist.
    """

    def parse(self, value):
        return parse_verify_ca(value)


def _location(values, problems):
    """Derives ``address``, ``root_prefix`` and ``netloc`` from redfish_address.

    The address's own ``check`` already refused a bad one (never echoing it:
    it may carry a password), so this rule only runs on a good one.
    """
    if values["redfish_address"]:
        values.update(parse_address(values["redfish_address"]))


def _basic_auth_user(values, problems):
    """HTTP basic auth cannot carry a user name with a ':' (RFC 7617): the BMC
    splits at the first one and reads another user, and every login failed
    as 'wrong user or password' about credentials that are right."""
    if values["redfish_auth_type"] == "basic" and ":" in (values["redfish_username"] or ""):
        problems.refuse("field redfish_username contains ':', which HTTP basic auth "
                        "cannot carry; set redfish_auth_type to session (or auto)")


COMMON_SCHEMA = params.Schema(
    params.Param("redfish_address",
                 "URL of the BMC's Redfish service: https://host[:port], optionally with "
                 "the root path (https://host/redfish/v1); a bare host means https",
                 required=True,
                 # Checked at create and update too, never echoing the value:
                 # https://user:pw@host must not be stored and shown in clear.
                 check=lambda value: parse_address(value)),
    params.Param("redfish_system_id",
                 "Id (1, System.Embedded.1) or path (/redfish/v1/Systems/1) of the "
                 "ComputerSystem to drive; needed only when the BMC has several"),
    params.Param("redfish_username", "User name on the BMC"),
    params.Param("redfish_password", "Password of redfish_username", secret=True),
    _VerifyCAParam("redfish_verify_ca",
                   "Verify the BMC's TLS certificate: true (against the system's CAs), "
                   "false (insecure), or the path of a CA bundle file or directory",
                   default=True),
    params.Param("redfish_auth_type",
                 "How to log in: Redfish sessions, HTTP basic auth, or sessions "
                 "falling back to basic", type="choice",
                 choices=redfish_session.AUTH_TYPES, default="auto"),
    rules=[params.Rule(_location, fields=("redfish_address",)),
           params.Rule(_basic_auth_user, fields=("redfish_username", "redfish_auth_type"))],
)

MANAGEMENT_SCHEMA = COMMON_SCHEMA + params.Schema(
    params.Param("redfish_boot_mode",
                 "Boot mode to set with the boot device (bios and legacy both mean "
                 "Redfish Legacy); unset: the node's properties/capabilities boot_mode, "
                 "else the system's mode is left unchanged",
                 type="choice", choices=("uefi", "bios", "legacy")),
)

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: Power targets -> ComputerSystem.Reset types, in order of preference.
RESETS = {
    PowerState.ON: ("On", "ForceOn"),
    PowerState.OFF: ("ForceOff",),
    PowerState.SOFT_OFF: ("GracefulShutdown",),
    PowerState.REBOOT: ("ForceRestart", "PowerCycle"),
    PowerState.SOFT_REBOOT: ("GracefulRestart",),
}

#: Redfish PowerState -> ours. A system in transition reports the state it
#: is leaving: the caller verifies an action by polling until the target
#: holds, and "off" must not be claimed while the OS is still shutting down.
POWER_STATES = {"On": PowerState.ON, "Off": PowerState.OFF, "Paused": PowerState.ON,
                "PoweringOn": PowerState.OFF, "PoweringOff": PowerState.ON}

BOOT_SOURCES = {boot_devices.PXE: "Pxe", boot_devices.DISK: "Hdd",
                boot_devices.CDROM: "Cd", boot_devices.BIOS: "BiosSetup"}
_BOOT_DEVICES = {source: device for device, source in BOOT_SOURCES.items()}
BOOT_MODES = {"uefi": "UEFI", "bios": "Legacy", "legacy": "Legacy"}


def boot_mode(node, info):
    """The Redfish BootSourceOverrideMode to send with the boot device, or None.

    ``redfish_boot_mode`` first; unset, the node's Ironic-style
    ``properties/capabilities`` ``boot_mode`` (a dict, or "boot_mode:uefi,..."),
    which Ironic's redfish driver syncs the system to and nodes moved from
    Ironic carry (Ironic has no redfish_boot_mode), as redfish inspection
    records it here and the ipmitool interface reads it. Neither: None,
    the system's mode is left as it is.
    """
    mode = info["redfish_boot_mode"]
    if not mode:
        mode = str(base.capabilities(node).get("boot_mode") or "").strip().lower()
    return BOOT_MODES.get(mode)


def _value(field):
    """The Redfish string of a sushy enum field (or None)."""
    return getattr(field, "value", field)


#: How many system ids an error lists before it says how many more: a
#: virtual BMC (sushy-tools over libvirt) can serve hundreds of systems, and
#: the node's last_error keeps what is said.
LISTED_IDS = 20


def _ids(paths):
    """Systems' ids (last path segment) from their paths, sorted: the first
    :data:`LISTED_IDS`, then how many more."""
    ids = sorted(p.rstrip("/").rpartition("/")[2] for p in paths)
    more = len(ids) - LISTED_IDS
    return ids[:LISTED_IDS] + (["and %d more" % more] if more > 0 else [])


def parse_address(text):
    """``{"address", "root_prefix", "netloc"}`` from ``redfish_address``; ValueError."""
    text = str(text).strip()
    if "://" not in text:
        if text.count(":") > 1 and not text.startswith("["):
            text = "[%s]" % text  # a bare IPv6 address
        text = "https://" + text
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as exc:  # an unclosed IPv6 bracket, ...
        raise ValueError("(got %r) must be http(s)://host[:port]: %s" % (
            params.without_password(text), exc)) from None
    if parts.username is not None or parts.password is not None:
        # Not echoed: the value holds a credential.
        raise ValueError("must not contain credentials; use redfish_username and "
                         "redfish_password")
    shown = params.without_password(text)  # user:password@ the URL parser missed
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError("(got %r) must use http or https" % shown)
    if parts.query or parts.fragment:
        raise ValueError("(got %r) must not have a query or fragment" % shown)
    try:
        port = parts.port
        host = params.parse_address(parts.hostname or "")
    except ValueError as exc:
        raise ValueError("(got %r) must be http(s)://host[:port]: %s" % (shown, exc)) from None
    netloc = "[%s]" % host if ":" in host else host.lower()
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        netloc += ":%d" % port
    path = parts.path.rstrip("/")
    return {"address": "%s://%s" % (parts.scheme, netloc),
            "root_prefix": (path or "/redfish/v1") + "/", "netloc": netloc}




class _RedfishBase:
    """What power and management share: driver_info, controller, connection."""

    driver_info_schema = COMMON_SCHEMA
    config_group = "redfish"

    def parse_driver_info(self, task):
        """Typed driver_info with ``address``, ``root_prefix`` and ``netloc``."""
        return self.driver_info_schema.parse(task.node.driver_info, node=task.node.uuid,
                                             check_unknown=False)

    def _connection_info(self, task):
        # Only what reaching the BMC needs: an interface's own fields (the
        # virtual media boot's deploy_kernel...) are checked by its validate()
        # and the calls that use them, so ejecting the CD of a node whose
        # deploy ramdisk was since unset still works.
        values = COMMON_SCHEMA.parse(task.node.driver_info, node=task.node.uuid,
                                     check_unknown=False)
        return {
            "address": values["address"], "root_prefix": values["root_prefix"],
            "username": values["redfish_username"] or None,
            "password": values["redfish_password"],
            "verify": values["redfish_verify_ca"],
            "auth_type": values["redfish_auth_type"],
            "system_id": (values["redfish_system_id"] or "").strip() or None,
        }

    def controller_key(self, task):
        address = (task.node.driver_info or {}).get("redfish_address")
        try:
            return "redfish:%s" % parse_address(address)["netloc"]
        except ValueError:  # validate() reports it; keep any credential out
            return "redfish:%s" % str(address).rpartition("@")[2]

    def check_config(self):
        if importlib.util.find_spec("sushy") is None:
            raise exception.ConfigInvalid(
                "the redfish %s interface needs the Python package sushy: pip install "
                "sushy, or remove redfish from enabled_%s_interfaces"
                % (self.interface_type, self.interface_type),
                option="enabled_%s_interfaces" % self.interface_type)

    # -- systems -------------------------------------------------------------

    def _system_path(self, entry, info):
        system_id = info["system_id"]
        path = entry.system_paths.get(system_id)
        if path is not None:
            return path
        if system_id and "/" in system_id:
            # A path; Ironic also takes one without its leading slash (sushy
            # joins it to the address), and an id never holds a slash.
            path = "/" + system_id.lstrip("/")
        elif system_id:
            path = "%sSystems/%s" % (info["root_prefix"],
                                     urllib.parse.quote(system_id, safe=""))
        else:
            paths = sorted(entry.client.get_system_collection().members_identities)
            if len(paths) != 1:
                raise exception.DriverSettingsError(
                    "the Redfish service at %s has %s: set redfish_system_id%s" % (
                        info["address"],
                        "%d systems (%s)" % (len(paths), ", ".join(_ids(paths)))
                        if paths else "no ComputerSystem",
                        " to one of them" if paths else " or check redfish_address"))
            path = paths[0]
        entry.system_paths[system_id] = path
        return path

    def _fetch(self, entry, info, path, capabilities=False):
        """GET the system (and with ``capabilities``, remember what it allows).

        An unknown id is a settings error. What the system allows is read
        only for the calls that check it (actions, the supported lists):
        sushy logs a warning each time it is read from a system that does not
        publish its ``@Redfish.AllowableValues`` (they are optional), which on
        every power state poll of every node would flood the log.
        """
        sushy = redfish_session._sushy()
        try:
            system = entry.client.get_system(path)
        except sushy.exceptions.ResourceNotFoundError:
            entry.system_paths.pop(info["system_id"], None)
            raise exception.DriverSettingsError(
                "redfish_system_id %r does not exist on the Redfish service at %s; "
                "valid ids: %s" % (info["system_id"] or path, info["address"],
                                   ", ".join(_ids(entry.client.get_system_collection()
                                                  .members_identities)) or "none")) from None
        if not capabilities:
            return system
        try:
            resets = {_value(v) for v in system.get_allowed_reset_system_values()}
        except sushy.exceptions.MissingActionError:
            resets = set()
        sources = {_value(v) for v in system.get_allowed_system_boot_source_values()}
        entry.capabilities[path] = (frozenset(resets), frozenset(sources))
        return system

    @contextlib.contextmanager
    def _system(self, task, action, capabilities=False):
        """Yield ``(entry, system)``: the node's system, freshly read.

        ``capabilities``: also refresh ``entry.capabilities`` for it (see :meth:`_fetch`).
        """
        info = self._connection_info(task)
        with redfish_session.connection(info, action) as entry:
            yield entry, self._fetch(entry, info, self._system_path(entry, info),
                                     capabilities)

    def _capabilities(self, task):
        """(allowed reset types, allowed boot sources), or None if the BMC is not answering.

        Read once per connection, so listing supported states costs no
        request per call. When the BMC does not answer, the caller offers
        everything the protocol can do and the action itself reports the error
        (retried, in its controller's queue). Errors retrying cannot fix
        (credentials, system id, TLS) are raised here, naming node and
        controller like every other driver error: trying the action anyway
        would only cost the BMC account a second failed login. Within an
        operation whose BMC already did not answer, it is not asked again
        (see :func:`retry.controller_silent`).
        """
        info = self._connection_info(task)
        if retry.controller_silent():
            return None
        try:
            with redfish_session.connection(info, "reading what the system allows") as entry:
                path = self._system_path(entry, info)
                if path not in entry.capabilities:
                    self._fetch(entry, info, path, capabilities=True)
                return entry.capabilities[path]
        except (exception.DriverConnectionError, exception.DriverActionError) as exc:
            task.logger.warning("%s; offering every Redfish action", exc)
            return None
        except exception.DriverError as exc:
            raise exc.locate(node=task.node.name or task.node.uuid,
                             controller=self.controller_key(task))


#: driver_internal_info key of the boot device a BMC would take only once
#: (Ironic's name, so nodes moved from Ironic keep theirs).
KEPT_BOOT_DEVICE = "redfish_boot_device"


def _continuous_refused(exc):
    """Whether the BMC refused BootSourceOverrideEnabled Continuous, for good.

    Only a refusal naming it: one of the target or the mode is the
    caller's to see, not a reason to boot once.
    """
    return (exc.status_code in redfish_session.REFUSED_REQUEST
            and not redfish_session.refused_for_now(exc)
            and any(word in str(exc) for word in ("BootSourceOverrideEnabled",
                                                  "Continuous")))


def _record_once_for_good(task, device):
    """Keep (or with None, forget) the persistent boot device sent only once."""
    if (task.node.driver_internal_info or {}).get(KEPT_BOOT_DEVICE) != device:
        base.update_internal_info(task, **{KEPT_BOOT_DEVICE: device})


class RedfishPower(_RedfishBase, base.PowerInterface):
    """Power through ``ComputerSystem.Reset``; returns once the BMC accepted it.

    ``timeout`` is not used: the caller verifies by polling
    :meth:`get_power_state` until the target holds.
    """

    power_states = tuple(RESETS)

    def get_supported_power_states(self, task):
        caps = self._capabilities(task)
        return [state for state in RESETS
                if caps is None or any(r in caps[0] for r in RESETS[state])]

    def get_power_state(self, task):
        with self._system(task, "reading the power state") as (entry, system):
            return POWER_STATES.get(_value(system.power_state), PowerState.ERROR)

    def set_power_state(self, task, power_state, timeout=None):
        try:
            target = PowerState.parse(power_state)
        except ValueError as exc:
            raise exception.InvalidPowerState("Node %s: %s" % (task.node.uuid, exc)) from None
        if target not in RESETS:
            raise exception.InvalidPowerState(
                "Node %s: redfish cannot set %s; use one of: %s" % (
                    task.node.uuid, target.value, ", ".join(s.value for s in RESETS)))
        action = "setting power %s" % target.value
        with self._system(task, action, capabilities=True) as (entry, system):
            current = _value(system.power_state)
            if (target == PowerState.ON and current in ("On", "PoweringOn")
                    or target in (PowerState.OFF, PowerState.SOFT_OFF) and current == "Off"
                    or target == PowerState.SOFT_OFF and current == "PoweringOff"):
                task.logger.info("redfish system %s is already %s", system.path, current)
                return
            if target in (PowerState.REBOOT, PowerState.SOFT_REBOOT) and current == "Off":
                task.logger.info("redfish system %s is off: powering it on instead of "
                                 "restarting it", system.path)
                target = PowerState.ON
            if target in (PowerState.ON, PowerState.REBOOT, PowerState.SOFT_REBOOT):
                self._restore_boot_device(task, system)
            self._reset(task, entry, system, target)

    def _restore_boot_device(self, task, system):
        """Send a persistent boot device the BMC takes only once again, before it boots.

        As Ironic's: a failure is a warning, the machine then boots by its
        boot order.
        """
        device = (task.node.driver_internal_info or {}).get(KEPT_BOOT_DEVICE)
        if device not in BOOT_SOURCES:
            return
        sushy = redfish_session._sushy()
        task.logger.info("redfish: boot from %s (once, kept) on system %s", device,
                         system.path)
        try:
            system.set_system_boot_options(
                target=sushy.BootSource(BOOT_SOURCES[device]),
                enabled=sushy.BootSourceOverrideEnabled("Once"))
        except sushy.exceptions.SushyError as exc:
            task.logger.warning(
                "redfish system %s: could not set boot device %s again (%s); it boots "
                "by its boot order", system.path, device, params.redact(
                    exc, [task.node.driver_info.get("redfish_password")]))

    def reboot(self, task, timeout=None):
        self.set_power_state(task, PowerState.REBOOT, timeout)

    def _reset(self, task, entry, system, target):
        allowed = entry.capabilities[system.path][0]
        reset = next((r for r in RESETS[target] if r in allowed), None)
        if reset is None:
            raise exception.DriverUnsupportedAction(
                "redfish system %s allows no reset type for %s (%s); it allows only "
                "the reset types: %s" % (
                    system.path, target.value, " or ".join(RESETS[target]),
                    ", ".join(sorted(allowed)) or "none"))
        task.logger.info("redfish: %s on system %s", reset, system.path)
        sushy = redfish_session._sushy()
        system.reset_system(sushy.ResetType(reset))


class RedfishManagement(_RedfishBase, base.ManagementInterface):
    """Boot source override (device, once or continuous, UEFI or legacy), sensors, NMI."""

    driver_info_schema = MANAGEMENT_SCHEMA

    def get_supported_boot_devices(self, task):
        caps = self._capabilities(task)
        return [device for device, source in BOOT_SOURCES.items()
                if caps is None or source in caps[1]]

    def set_boot_device(self, task, device, persistent=False):
        if device not in BOOT_SOURCES:
            raise exception.InvalidBootDevice(
                "Node %s: redfish cannot boot from %r; use one of: %s"
                % (task.node.uuid, device, ", ".join(BOOT_SOURCES)))
        info = self.parse_driver_info(task)
        explicit, mode = info["redfish_boot_mode"], boot_mode(task.node, info)
        sushy = redfish_session._sushy()
        _record_once_for_good(task, None)  # a new choice replaces a kept one
        with self._system(task, "setting the boot device to %s" % device,
                          capabilities=True) as (entry, system):
            allowed = entry.capabilities[system.path][1]
            if BOOT_SOURCES[device] not in allowed:
                raise exception.DriverUnsupportedAction(
                    "redfish system %s cannot boot from %s (Redfish %s); it offers: %s" % (
                        system.path, device, BOOT_SOURCES[device],
                        ", ".join(_BOOT_DEVICES.get(s, s) for s in sorted(allowed))))
            options = {"target": sushy.BootSource(BOOT_SOURCES[device]),
                       "enabled": sushy.BootSourceOverrideEnabled(
                           "Continuous" if persistent else "Once")}
            current = _value(system.boot.mode) if system.boot is not None else None
            # A mode only the node's capabilities ask for is not sent to a
            # system that shows none: its BMC may not take the property, and
            # the boot device would be refused with it.
            if mode and system.boot is not None and current != mode and (
                    current is not None or explicit):
                options["mode"] = sushy.BootSourceOverrideMode(mode)
            task.logger.info("redfish: boot from %s (%s)%s on system %s", device,
                             "continuous" if persistent else "once",
                             ", mode %s" % mode if "mode" in options else "", system.path)
            enabled = (system.json.get("Boot") or {}).get(
                "BootSourceOverrideEnabled@Redfish.AllowableValues")
            try:
                if persistent and enabled and "Continuous" not in enabled:
                    refused = "it allows only %s" % ", ".join(map(str, enabled))
                else:
                    system.set_system_boot_options(**options)
                    return
            except sushy.exceptions.HTTPError as exc:
                if not persistent or not _continuous_refused(exc):
                    raise
                refused = params.redact(exc.detail or exc.code or exc.status_code,
                                        [task.node.driver_info.get("redfish_password")])
            # Continuous was dropped from Redfish and some BMCs refuse it: as
            # Ironic does, boot once and set it again before every power on
            # and reboot (RedfishPower).
            options["enabled"] = sushy.BootSourceOverrideEnabled("Once")
            system.set_system_boot_options(**options)
            task.logger.warning(
                "redfish system %s takes no persistent boot device (%s); %s is set for "
                "the next boot only, and set again before every power on and reboot",
                system.path, refused, device)
            _record_once_for_good(task, device)

    def get_boot_device(self, task):
        """What the BMC says; a persistent device it takes only once: that device.

        Such a device (see :meth:`set_boot_device`) reads as a one-time
        override, or none once a boot used it, while it is set again before
        every boot: it is what the machine boots.
        """
        kept = (task.node.driver_internal_info or {}).get(KEPT_BOOT_DEVICE)
        if kept in BOOT_SOURCES:
            return {"boot_device": kept, "persistent": True}
        with self._system(task, "reading the boot device") as (entry, system):
            boot = system.boot
            enabled = _value(boot.enabled) if boot is not None else None
            if boot is None or enabled == "Disabled":
                return {"boot_device": None, "persistent": None}  # boots by its boot order
            return {"boot_device": _BOOT_DEVICES.get(_value(boot.target)),
                    "persistent": {"Continuous": True, "Once": False}.get(enabled)}

    def get_sensors_data(self, task):
        """Temperatures and fans of the system's chassis, keyed ``name@chassis``."""
        data = {"Temperature": {}, "Fan": {}}
        sushy = redfish_session._sushy()
        with self._system(task, "reading sensors") as (entry, system):
            try:
                chassis_list = system.chassis
            except sushy.exceptions.MissingAttributeError:
                chassis_list = []  # no chassis linked: no sensors to read
            for chassis in chassis_list:
                try:
                    thermal = chassis.thermal
                except (sushy.exceptions.MissingAttributeError,
                        sushy.exceptions.ResourceNotFoundError):
                    continue
                for kind, sensors in (("Temperature", thermal.temperatures),
                                      ("Fan", thermal.fans)):
                    for sensor in sensors or ():
                        name = "%s@%s" % (sensor.name or sensor.identity, chassis.identity)
                        if name in data[kind]:  # one "CPU Temp" per CPU: tell them apart
                            name = "%s #%s@%s" % (sensor.name, sensor.identity,
                                                  chassis.identity)
                        reading = (sensor.reading_celsius if kind == "Temperature"
                                   else sensor.reading)
                        status = sensor.status
                        data[kind][name] = {
                            "identity": sensor.identity, "reading": reading,
                            "units": "Celsius" if kind == "Temperature"
                            else _value(sensor.reading_units),
                            "health": _value(status.health) if status else None,
                            "state": _value(status.state) if status else None}
        return data

    def inject_nmi(self, task):
        with self._system(task, "injecting an NMI", capabilities=True) as (entry, system):
            if "Nmi" not in entry.capabilities[system.path][0]:
                raise exception.DriverUnsupportedAction(
                    "redfish system %s does not allow the Nmi reset type" % system.path)
            task.logger.info("redfish: Nmi on system %s", system.path)
            system.reset_system(redfish_session._sushy().ResetType("Nmi"))
