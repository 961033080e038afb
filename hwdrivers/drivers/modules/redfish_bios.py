"""BIOS interface ``redfish``: read, change and reset a system's BIOS attributes.

Redfish keeps two copies of the BIOS: ``Systems/<id>/BIOS`` (the current
attributes) and its ``@Redfish.Settings`` object (``BIOS/Settings``,
where changes are PATCHed); firmware applies pending settings when the
machine next boots. So both clean steps go the same way:

1. read the BIOS and its attribute registry (``AttributeRegistry``, found
   through ``/redfish/v1/Registries``) and refuse, before anything is sent,
   an attribute the registry does not have, a read-only one, or a value it
   does not allow (bios_registry.py), naming the attribute and what is
   allowed; a BMC that publishes no registry is checked against the names
   of its current attributes only;
2. PATCH the settings (``apply_configuration``) or post
   ``Bios.ResetBios`` (``factory_reset``);
3. reboot through the node's power interface and wait for it to be on;
4. read the current attributes back until they hold the requested values
   (``[redfish] bios_verify_timeout``), else the step fails naming what did not change.

:meth:`cache_bios_settings` returns every current attribute with its
registry entry; the conductor keeps them in the node's ``bios_settings``
table (``GET /v1/nodes/<node>/bios``).
"""

import contextlib
import json
import logging
import threading
import time

from hwdrivers.common import exception
from hwdrivers.conf import CONF
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers import retry
from hwdrivers.drivers.modules import bios_registry
from hwdrivers.drivers.modules import redfish
from hwdrivers.drivers.modules import redfish_session

#: Registry types whose values are secrets: never stored, shown, logged or read back.
SECRET_TYPES = frozenset({"Password"})
_POLL = (0.5, 5.0)


class _SecretFilter(logging.Filter):
    """Masks the BIOS passwords being sent in what sushy and the session code log.

    sushy logs a PATCH body at debug (its ``sanitize`` masks keys named
    ``password`` only, not ``SysPassword``) and a refused PATCH's whole
    answer at warning, where a BMC's ``PropertyValueFormatError`` quotes the
    value it refused. The values are masked only while the call that sends
    them runs (:meth:`hiding`).
    """

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        self._active = {}

    @contextlib.contextmanager
    def hiding(self):
        """Yield a list: the secrets put in it are masked until the block ends."""
        secrets = []
        with self._lock:
            self._active[id(secrets)] = secrets
        try:
            yield secrets
        finally:
            with self._lock:
                del self._active[id(secrets)]

    def filter(self, record):
        with self._lock:
            secrets = [s for active in self._active.values() for s in active]
        if secrets:
            text = record.getMessage()
            masked = params.redact(text, secrets)
            if masked != text:
                record.msg, record.args = masked, ()
        return True


_SECRETS = _SecretFilter()
for _name in ("sushy.connector", redfish_session.LOG.name):
    logging.getLogger(_name).addFilter(_SECRETS)


def _masked(value):
    """``value`` with every field whose name has "passw" in it masked, at any depth."""
    if isinstance(value, dict):
        return {key: "******" if "passw" in str(key).lower() and field not in (None, "")
                else _masked(field) for key, field in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


class _PasswordFields(logging.Filter):
    """Masks password fields in the resources sushy logs at debug, whenever read.

    sushy logs every resource it reads ("Received representation of Bios
    ...: {...}"), Attributes included. The Redfish specification has a BMC
    answer null for a Password attribute, but not every BMC does
    (sushy-tools shows the one last set), and :class:`_SecretFilter` knows
    a password only while the step that sends it runs: a BIOS read later
    (the cache, a verification) would log it. The fields are masked by
    name (SysPassword, AdminPassword, a virtual medium's Password...), with
    no need to know the values.
    """

    def filter(self, record):
        if isinstance(record.args, dict) and "json" in record.args:
            record.args = dict(record.args, json=_masked(record.args["json"]))
        return True


logging.getLogger("sushy.resources.base").addFilter(_PasswordFields())


def _names(values) -> list | None:
    if not values:
        return None
    return [v.get("ValueName") if isinstance(v, dict) else v for v in values]


def _entry(attr) -> dict:
    return {"attribute_type": attr.attribute_type,
            "allowable_values": _names(attr.allowable_values),
            **{field: bios_registry.registry_int(getattr(attr, field))
               for field in bios_registry.NUMERIC_FIELDS},
            "read_only": bool(attr.read_only or attr.immutable),
            "reset_required": attr.reset_required, "unique": attr.unique,
            "default": attr.default_value}


class RedfishBIOS(redfish._RedfishBase, base.BIOSInterface):
    """BIOS settings through the system's Bios resource and its attribute registry."""

    #: The conductor caches what :meth:`cache_bios_settings` returns.
    reads_settings = True

    # -- reading -------------------------------------------------------------

    def _bios(self, system):
        sushy = redfish_session._sushy()
        try:
            return system.bios
        except (sushy.exceptions.MissingAttributeError,
                sushy.exceptions.ResourceNotFoundError):
            raise exception.DriverUnsupportedAction(
                "redfish system %s has no Bios resource; it cannot be read or changed "
                "through Redfish" % system.path) from None

    def _registry(self, bios) -> dict:
        """name -> registry entry; from the current attributes alone when there is none."""
        registry = bios.get_attribute_registry()
        current = dict(bios.attributes or {})
        entries = {}
        if registry is not None and registry.registry_entries is not None:
            for attr in registry.registry_entries.attributes or ():
                entries[attr.name] = _entry(attr)
        for name in current:
            entries.setdefault(name, {"attribute_type": None})
        for name, entry in entries.items():
            entry["value"] = current.get(name)
        return entries

    def _read(self, task, action):
        with self._system(task, action) as (_entry_, system):
            bios = self._bios(system)
            return dict(bios.attributes or {}), self._registry(bios)

    def cache_bios_settings(self, task) -> list[dict]:
        """Every current attribute, with its registry entry (no Password values)."""
        current, registry = self._read(task, "reading the BIOS settings")
        return [dict(registry.get(name, {}), name=name,
                     value=None if self._secret(registry, name) else value)
                for name, value in sorted(current.items())]

    @classmethod
    def _resettable(cls, name: str, entry: dict, current: dict, registry: dict) -> bool:
        """Whether ``factory_reset`` can expect ``name`` to read as its ``DefaultValue``.

        Registries (HPE's, Dell's) declare defaults for attributes a reset
        does not set or the BMC never shows: read-only ones report the
        hardware (a serial number, a core count), a Password reads back as
        null, and many registry entries are absent from the current
        attributes (other models, hidden ones). Waiting for those to match
        would fail every reset after ``[redfish] bios_verify_timeout``.
        """
        return (entry.get("default") is not None and name in current
                and not entry.get("read_only") and not cls._secret(registry, name))

    @staticmethod
    def _secret(registry: dict, name: str) -> bool:
        return (registry.get(name) or {}).get("attribute_type") in SECRET_TYPES

    # -- changing ------------------------------------------------------------

    def _gated(self, task, func, *args):
        return retry.run(task, self, func, *args, gate=getattr(task, "gate", None))

    @staticmethod
    def _typed(value, entry):
        """The JSON type the BMC expects for the registry's attribute type.

        String, Password and Enumeration attributes take strings: a number or
        a boolean given for one went out as a JSON number or boolean, which a
        BMC refuses (``PropertyValueTypeError``) or stores as it came. They
        are sent as their JSON text (``12345`` -> ``"12345"``, ``true`` ->
        ``"true"``), an Enumeration's as the registry spells the allowed value
        it matched. An attribute the registry does not type goes as given.
        """
        kind = entry.get("attribute_type")
        if kind == "Integer":
            return int(value)
        if kind == "Boolean":
            return str(value).lower() == "true"
        if kind not in ("String", "Password", "Enumeration") or isinstance(value, str):
            return value
        allowed = entry.get("allowable_values") or ()
        return next((a for a in allowed if str(a) == str(value)), json.dumps(value))

    @staticmethod
    def _apply_time(bios):
        """``OnReset`` when the BMC lists it in ``SupportedApplyTimes``, else its default.

        The step reboots the machine itself, then verifies: what it needs is
        settings applied at the next boot. A BMC that offers apply times may
        default to another (``Immediate`` would restart the machine under the
        step's feet, a maintenance window would hold the settings past its
        reboot), so ``OnReset`` is asked for explicitly, as Ironic does; a BMC
        that lists none gets no ``@Redfish.SettingsApplyTime``.
        """
        on_reset = redfish_session._sushy().ApplyTime.ON_RESET
        return on_reset if on_reset in (bios.supported_apply_times or ()) else None

    def _patch(self, task, settings):
        with _SECRETS.hiding() as secrets:
            try:
                with self._system(task, "applying BIOS settings") as (_entry_, system):
                    bios = self._bios(system)
                    registry = self._registry(bios)
                    wanted = bios_registry.check_settings(settings, registry)
                    changes = {s["name"]: self._typed(s["value"], registry[s["name"]])
                               for s in wanted}
                    # A refused PATCH's answer may quote a password attribute's value.
                    secrets.extend(str(value) for name, value in changes.items()
                                   if self._secret(registry, name))
                    task.logger.info("redfish: BIOS settings %s on system %s (applied at "
                                     "the next boot)", ", ".join(sorted(changes)), system.path)
                    bios.set_attributes(changes, apply_time=self._apply_time(bios))
            except exception.DriverError as exc:
                exc.detail = params.redact(exc.detail, secrets)
                raise exc.locate()
        # what can be read back and shown: a password attribute is neither
        return {name: value for name, value in changes.items()
                if not self._secret(registry, name)}

    def _reset(self, task):
        sushy = redfish_session._sushy()
        with self._system(task, "resetting the BIOS to defaults") as (_entry_, system):
            bios = self._bios(system)
            task.logger.info("redfish: Bios.ResetBios on system %s (applied at the next "
                             "boot)", system.path)
            try:
                bios.reset_bios()
            except (sushy.exceptions.MissingActionError,
                    sushy.exceptions.MissingAttributeError):
                raise exception.DriverUnsupportedAction(
                    "redfish system %s offers no Bios.ResetBios action" % system.path
                ) from None

    def _reboot(self, task):
        gate = getattr(task, "gate", None)
        state = actions.get_power_state(task, gate=gate)
        target = PowerState.REBOOT if state == PowerState.ON else PowerState.ON
        task.logger.info("rebooting so the BIOS applies the new settings")
        task.node.power_state = actions.set_power_state(task, target, gate=gate).value

    def _verify(self, task, expected: dict) -> dict:
        """Wait until the current attributes hold ``expected``; returns them."""
        limit = CONF.redfish.bios_verify_timeout
        deadline = time.monotonic() + limit
        pause = _POLL[0]
        while True:
            current, _registry_ = self._gated(task, self._read, "verifying the BIOS settings")
            wrong = {name: current.get(name) for name, value in expected.items()
                     if str(current.get(name)).lower() != str(value).lower()}
            if not wrong:
                return current
            if time.monotonic() >= deadline:
                raise exception.DriverActionError(
                    "the BIOS did not apply the settings within %gs of the reboot "
                    "([redfish] bios_verify_timeout): %s"
                    % (limit, ", ".join(
                        "%s is %r, wanted %r" % (n, v, expected[n])
                        for n, v in sorted(wrong.items()))))
            time.sleep(pause)
            pause = min(pause * 2, _POLL[1])

    @base.clean_step(priority=0, argsinfo={
        "settings": {"description": bios_registry.SETTINGS_HELP, "required": True}})
    def apply_configuration(self, task, settings):
        """Set BIOS attributes, reboot, and check they took effect."""
        changes = self._gated(task, self._patch, settings)
        self._reboot(task)
        self._verify(task, changes)
        task.logger.info("BIOS settings applied and verified: %s", ", ".join(
            "%s=%s" % item for item in sorted(changes.items())))

    @base.clean_step(priority=0)
    def factory_reset(self, task):
        """Reset the BIOS to its defaults, reboot, and check the registry's defaults hold.

        Only what a reset sets can be checked: attributes whose registry
        entry declares no ``DefaultValue`` are read back (and cached) as they
        are, and so are those :meth:`_resettable` leaves out.
        """
        current, registry = self._gated(task, self._read, "reading the BIOS settings")
        self._gated(task, self._reset)
        self._reboot(task)
        self._verify(task, {name: entry["default"] for name, entry in registry.items()
                            if self._resettable(name, entry, current, registry)})
        task.logger.info("BIOS reset to its defaults")
