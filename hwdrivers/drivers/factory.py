"""Load enabled hardware types and interfaces by name, and compose nodes.

Only names enabled in config are imported (stevedore's named manager reads
entry-point metadata for the rest). Misconfiguration fails here, at load,
with :class:`ConfigInvalid` naming the option to change, rather than on
the first request for an unlucky node.
"""

import difflib
import logging
import threading
import traceback

import stevedore

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.common import secrets as secrets_at_rest
from hwdrivers.conf import CONF
from hwdrivers.drivers import base
from hwdrivers.drivers import hardware_type as hw_type_mod
from hwdrivers.drivers import params

__all__ = [
    "Composition", "Registry", "get_registry", "reset",
]

LOG = logging.getLogger(__name__)

_lock = threading.Lock()
_registry = None


def _load(namespace, names, option, kind, expected_cls):
    """Instances of the named entry points, in ``names`` order."""
    names = [n.strip() for n in names if n and n.strip()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise exception.ConfigInvalid(
            "%s lists %s more than once" % (option, ", ".join(duplicates)), option=option)
    if not names:
        return {}
    missing = []
    failures = []

    def on_missing(missing_names):
        missing.extend(sorted(missing_names))

    def on_failure(manager, entrypoint, exc):
        failures.append((entrypoint.name, exc))

    manager = stevedore.NamedExtensionManager(
        namespace, names, invoke_on_load=True, name_order=True,
        on_load_failure_callback=on_failure,
        on_missing_entrypoints_callback=on_missing)
    if failures:
        name, exc = failures[0]
        raise exception.DriverLoadError(
            kind=kind, name=name, option=option,
            reason="%s: %s; fix the installation or remove it from %s"
                   % (type(exc).__name__, exc, option))
    if missing:
        available = sorted({ep.name for ep in manager.list_entry_points()})
        raise exception.DriverLoadError(
            kind=kind, name=", ".join(missing), option=option,
            reason="no entry point in namespace %s (installed: %s); remove it "
                   "from %s or install the package that provides it"
                   % (namespace, ", ".join(available) or "none", option))
    loaded = {}
    for ext in manager.extensions:
        if ext.name in loaded:
            raise exception.DriverLoadError(
                kind=kind, name=ext.name, option=option,
                reason="two packages register this name in %s; uninstall one"
                       % namespace)
        if not isinstance(ext.obj, expected_cls):
            raise exception.DriverLoadError(
                kind=kind, name=ext.name, option=option,
                reason="%s is not a %s" % (type(ext.obj).__name__, expected_cls.__name__))
        ext.obj.name = ext.name
        loaded[ext.name] = ext.obj
    return loaded


def _per_node(impl):
    """Whether ``impl``'s driver_info declaration depends on the node's driver_info."""
    return (type(impl).driver_info_schema_for
            is not base.BaseInterface.driver_info_schema_for)


def declaration(impl, driver_info):
    """``impl.driver_info_schema_for(driver_info)``, a plugin's bug there made plain.

    The method must not raise (see :mod:`hwdrivers.drivers.base`), but a
    plugin's may: validation, masking and sealing all ask it, and a bare
    TypeError from inside them was a traceback or a 500 naming nothing. It
    becomes a DriverError naming the implementation and where it failed --
    not the exception's text, which may quote driver_info's values, among
    them the secrets the declaration was asked about.
    """
    try:
        return impl.driver_info_schema_for(driver_info)
    except exception.HWDriversError:
        raise
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        where = " at %s:%s" % (frames[-1].filename, frames[-1].lineno) if frames else ""
        raise exception.DriverError(
            "the %s interface %s (%s.%s) failed to declare its driver_info fields for "
            "this node: %s%s. That is a bug in the plugin: report it to its authors, or "
            "give the node another %s_interface"
            % (impl.interface_type, impl.name or type(impl).__name__, type(impl).__module__,
               type(impl).__qualname__, type(exc).__name__, where,
               impl.interface_type)) from None


def _may_add_secrets(impl, driver_info):
    """Whether ``impl`` must be asked which fields of ``driver_info`` are secret.

    Not when the node has none of the keys its declaration depends on
    (``driver_info_schema_depends_on``): its secrets are then the static
    ones, which every mask already covers.
    """
    depends_on = getattr(impl, "driver_info_schema_depends_on", None)
    return depends_on is None or (isinstance(driver_info, dict)
                                  and not depends_on.isdisjoint(driver_info))


def _check_depends_on(impl, static_secrets):
    """Refuse an implementation whose ``driver_info_schema_depends_on`` is not kept.

    Asked with a node that has no driver_info, its declaration must add no
    secret to the static ones: masking relies on that for every node
    without the keys it names.
    """
    depends_on = getattr(impl, "driver_info_schema_depends_on", None)
    if depends_on is None:
        return
    extra = declaration(impl, {}).secret_names - static_secrets
    if extra:
        option = "[DEFAULT] enabled_%s_interfaces" % impl.interface_type
        raise exception.DriverLoadError(
            kind="%s interface" % impl.interface_type,
            name=impl.name or type(impl).__name__, option=option,
            reason="its driver_info_schema_depends_on (%s) promises no secret field "
                   "beyond its driver_info_schema for a node without those keys, yet "
                   "such a node gets secret field(s) %s, which masking would show; "
                   "the implementation must declare them in driver_info_schema or set "
                   "driver_info_schema_depends_on = None (or remove it from %s)"
                   % (", ".join(sorted(depends_on)), ", ".join(sorted(extra)), option))


class Composition:
    """The interfaces of one node: ``task.driver.power``, ``.management``..."""

    def __init__(self, hardware_type, interfaces, node=None, registry=None):
        self.hardware_type = hardware_type
        self.interfaces = interfaces  # kind -> instance
        self.node = node  # whose driver_info decides node-dependent declarations
        self.registry = registry  # the Registry that composed it, if one did
        self.__dict__.update(interfaces)

    @property
    def name(self):
        return self.hardware_type.name

    @property
    def interface_names(self):
        return {kind: impl.name for kind, impl in self.interfaces.items()}

    @property
    def schema(self):
        """The union of every interface's driver_info declaration for the node."""
        return self.schema_for(getattr(self.node, "driver_info", None))

    def schema_for(self, driver_info):
        """The union of every interface's declaration for ``driver_info``."""
        schema = params.EMPTY
        for impl in self.interfaces.values():
            schema = schema + declaration(impl, driver_info)
        return schema

    def __repr__(self):
        return "<driver %s %s>" % (self.name, self.interface_names)


class Registry:
    """The loaded hardware types and interfaces, and the composition rules."""

    def __init__(self, conf=CONF):
        self.conf = conf
        self.hardware_types = _load(
            interface_types.HARDWARE_TYPES_NAMESPACE, conf.enabled_hardware_types,
            "[DEFAULT] enabled_hardware_types", "hardware type",
            hw_type_mod.AbstractHardwareType)
        if not self.hardware_types:
            raise exception.ConfigInvalid(
                "no hardware type is enabled; set [DEFAULT] enabled_hardware_types",
                option="[DEFAULT] enabled_hardware_types")
        self.interfaces = {}
        for kind in interface_types.ALL:
            option = "[DEFAULT] enabled_%s_interfaces" % kind
            self.interfaces[kind] = _load(
                interface_types.NAMESPACE % kind,
                getattr(conf, "enabled_%s_interfaces" % kind), option,
                "%s interface" % kind, base.INTERFACE_CLASSES[kind])
            for impl in self.interfaces[kind].values():
                impl.check_config()
        self._defaults = {}
        # (driver, requested <kind>_interface values) -> (hardware type, interfaces):
        # nodes share a handful of shapes, and every task composes one.
        self._compositions = {}
        for name in self.hardware_types:
            hw_conf.register_hardware_type_group(conf, name)
            for kind in interface_types.ALL:
                self._defaults[(name, kind)] = self._compute_default(name, kind)
        self._all_schema = params.EMPTY
        for impls in self.interfaces.values():
            for impl in impls.values():
                self._all_schema = self._all_schema + impl.driver_info_schema
        # What is masked by declaration is also what is encrypted at rest.
        self._per_node_schemas = [
            impl for impls in self.interfaces.values() for impl in impls.values()
            if _per_node(impl)]
        self._warned = set()  # ids of implementations whose declaration failed in a mask
        self._static_secrets = frozenset(self._all_schema.secret_names)
        for impl in self._per_node_schemas:
            _check_depends_on(impl, self._static_secrets)
        secrets_at_rest.declare_secret_fields(self._all_schema.secret_names,
                                              self.node_secret_names)

    # -- rules ---------------------------------------------------------------

    def hardware_type(self, name):
        try:
            return self.hardware_types[name]
        except (KeyError, TypeError):
            error = exception.DriverNotFound(
                driver_name=name, enabled=", ".join(sorted(self.hardware_types)))
            hint = self._suggest_hardware_type(name)
            if hint:  # after what is wrong and what is enabled
                error.message = "%s %s" % (error.message, hint)
                error.args = (error.message,)
            raise error from None

    def _suggest_hardware_type(self, name):
        """"Did you mean ...?" for a mistyped hardware type, or None.

        An interface's name given as the driver (``ipmitool``, ``redfish``'s
        power interface) points at the hardware types that use it; otherwise
        an enabled name close enough to be a typo of it (none for an unrelated
        name: the message lists the enabled ones).
        """
        if not isinstance(name, str):
            return None
        users = sorted(hw for hw in self.hardware_types
                       if any(name in self.usable(hw, kind) for kind in interface_types.ALL))
        if users:
            return ("%s is an interface, not a hardware type: did you mean %s?"
                    % (name, " or ".join(users)))
        close = difflib.get_close_matches(name, list(self.hardware_types), n=1, cutoff=0.75)
        return "Did you mean %s?" % close[0] if close else None

    def usable(self, hw_name, kind):
        """Names a node of ``hw_name`` may use for ``kind``, preferred first."""
        hw = self.hardware_type(hw_name)
        return [n for n in hw.supported_interfaces(kind) if n in self.interfaces[kind]]

    def _compute_default(self, hw_name, kind):
        usable = self.usable(hw_name, kind)
        group = hw_conf.hardware_type.group_name(hw_name)
        per_type = getattr(getattr(self.conf, group), "default_%s_interface" % kind)
        global_default = getattr(self.conf, "default_%s_interface" % kind)
        for value, option in ((per_type, "[%s] default_%s_interface" % (group, kind)),
                              (global_default, "[DEFAULT] default_%s_interface" % kind)):
            if not value:
                continue
            if value not in self.interfaces[kind]:
                raise exception.ConfigInvalid(
                    "%s = %s is not enabled; add it to [DEFAULT] enabled_%s_interfaces "
                    "or choose one of: %s" % (option, value, kind,
                                              ", ".join(self.interfaces[kind]) or "none"),
                    option=option)
            if value not in usable:
                hint = ("" if option.startswith("[hardware") else
                        " or set [%s] default_%s_interface" % (group, kind))
                raise exception.ConfigInvalid(
                    "%s = %s is not supported by hardware type %s; choose one of: "
                    "%s%s" % (option, value, hw_name, ", ".join(usable) or "none", hint),
                    option=option)
            return value
        if not usable:
            supported = self.hardware_type(hw_name).supported_interfaces(kind)
            raise exception.ConfigInvalid(
                "hardware type %s has no enabled %s interface: it supports %s; add one "
                "to [DEFAULT] enabled_%s_interfaces or remove %s from [DEFAULT] "
                "enabled_hardware_types" % (hw_name, kind, ", ".join(supported) or "none",
                                            kind, hw_name),
                option="[DEFAULT] enabled_%s_interfaces" % kind)
        return usable[0]

    def default_interface(self, hw_name, kind):
        self.hardware_type(hw_name)
        return self._defaults[(hw_name, kind)]

    def interface_name(self, hw_name, kind, requested=None, node=None):
        """The implementation a node gets: its own choice if valid, else the default."""
        if not requested:
            return self.default_interface(hw_name, kind)
        usable = self.usable(hw_name, kind)
        if requested not in usable:
            why = ("is not enabled" if requested not in self.interfaces[kind]
                   else "is not supported by hardware type %s" % hw_name)
            close = difflib.get_close_matches(str(requested), usable, n=1, cutoff=0.6)
            if close:
                why += " (did you mean %s?)" % close[0]
            raise exception.InterfaceNotAllowed(
                "%s%s_interface %s %s; valid: %s (or unset it to use the default, %s)"
                % ("Node %s: " % node if node else "", kind, requested, why,
                   ", ".join(usable), self.default_interface(hw_name, kind)))
        return requested

    def compose(self, node):
        """The :class:`Composition` for ``node`` (driver + ``<kind>_interface``)."""
        key = (node.driver,) + tuple(getattr(node, column, None)
                                     for column in interface_types.NODE_FIELDS)
        found = self._compositions.get(key)
        if found is None:
            found = self._compose(node)
            if len(self._compositions) >= 1024:  # bounded: keys come from node rows
                self._compositions.clear()
            self._compositions[key] = found
        return Composition(found[0], found[1], node=node, registry=self)

    def _compose(self, node):
        hw = self.hardware_type(node.driver)
        ident = getattr(node, "uuid", None)
        interfaces = {}
        errors = []
        for kind in interface_types.ALL:
            try:
                name = self.interface_name(
                    node.driver, kind, getattr(node, "%s_interface" % kind, None))
            except exception.InterfaceNotAllowed as exc:
                errors.append(str(exc))
                continue
            interfaces[kind] = self.interfaces[kind][name]
        if errors:
            raise exception.InterfaceNotAllowed(
                "%s%s" % ("Node %s: " % ident if ident else "", "; ".join(errors)),
                errors=errors)
        return hw, interfaces

    def check_interfaces(self, driver, values, node=None):
        """Validate a node's ``driver`` and ``<kind>_interface`` values, all at once.

        The error's ``fields`` name the refused ``<kind>_interface`` fields,
        so a caller can tell which of them its own request set.
        """
        self.hardware_type(driver)
        errors, fields = [], []
        for kind in interface_types.ALL:
            field = "%s_interface" % kind
            try:
                self.interface_name(driver, kind, values.get(field))
            except exception.InterfaceNotAllowed as exc:
                errors.append(str(exc))
                fields.append(field)
        if errors:
            raise exception.InterfaceNotAllowed(
                "%s%s" % ("Node %s: " % node if node else "", "; ".join(errors)),
                errors=errors, fields=fields)

    # -- secrets and properties ---------------------------------------------------

    @property
    def secret_names(self):
        """Every field an enabled interface declares secret for any node."""
        return self._static_secrets

    def node_secret_names(self, driver_info):
        """Fields secret for a node because of its own driver_info (external
        drivers); for such a node, also those no interface declares
        (:meth:`_undeclared`): a password its executable stopped declaring
        stays sealed.

        Only there: every registry's answer counts when sealing
        (secrets.declare_secret_fields), and one that lacks a hardware type
        would seal that type's fields on every node, where the database's
        lookups by driver_info key (a PDU's address) could not find them.
        """
        names = set()
        declared = set()
        asked = False
        for impl in self._per_node_schemas:
            if _may_add_secrets(impl, driver_info):
                schema = declaration(impl, driver_info)
                names |= schema.secret_names
                declared.update(param.name for param in schema)
                asked = True
        if asked:
            names |= self._undeclared(driver_info, declared)
        return names

    def _undeclared(self, driver_info, declared=()):
        """Keys of ``driver_info`` no loaded interface declares, for this node or
        any: taken as secret in every view (:meth:`mask`).

        What nothing declares, nothing says is not a password: a field its
        external driver stopped declaring (the node moved to another
        executable, an upgrade renamed it), one stored under ``[api]
        unknown_driver_info = warn`` (a node moved from Ironic). Shown, they
        were shown in clear; masking too much is recoverable (a value sent
        back as the mask keeps the stored one).
        """
        if not driver_info:
            return set()
        schema = self._all_schema
        return {key for key in driver_info if key not in schema and key not in declared}

    def mask(self, node_driver_info, composition=None):
        """driver_info with secrets masked, by this node's declarations.

        A field secret in any loaded interface is masked too, so a node
        whose interfaces changed never shows a password another declared.
        """
        secrets = self._static_secrets
        # Only declarations that depend on the node (external executables)
        # are asked: the static ones are all in _static_secrets already. Ours
        # only when the node has a key they depend on (checked at load).
        asked = [impl for impl in self._per_node_schemas
                 if _may_add_secrets(impl, node_driver_info)]
        if composition is not None and getattr(composition, "registry", None) is not self:
            # Interfaces loaded elsewhere, unchecked here: theirs may not be
            # among ours, and they are always asked.
            asked += [impl for impl in composition.interfaces.values()
                      if _per_node(impl) and impl not in self._per_node_schemas]
        everything = False
        declared = set()
        for impl in asked:
            try:
                schema = declaration(impl, node_driver_info)
            except exception.HWDriversError as exc:
                # Which fields are secret is unknown: all are, for output.
                self._warn_once(impl, exc)
                everything = True
                break
            extra = schema.secret_names
            if not extra <= secrets:
                secrets = secrets | extra
            declared.update(param.name for param in schema)
            if impl not in self._per_node_schemas:  # its static fields are not in ours
                declared.update(param.name for param in impl.driver_info_schema)
        if not everything:
            undeclared = self._undeclared(node_driver_info, declared)
            if undeclared:
                secrets = secrets | undeclared
        return {k: (params.MASK if (everything or k in secrets) and v not in (None, "")
                    else v)
                for k, v in (node_driver_info or {}).items()}

    def _warn_once(self, impl, error):
        """Log a declaration that failed in masking, once per implementation:
        a listing asks it for every node."""
        if id(impl) not in self._warned:
            self._warned.add(id(impl))
            LOG.error("Masking every driver_info field of the nodes using it: %s", error)

    def properties(self, hw_name):
        """Per interface kind: ``{field: description}`` of the default implementations."""
        return {kind: self.interfaces[kind][self.default_interface(hw_name, kind)]
                .get_properties() for kind in interface_types.ALL}

    def fields(self, hw_name):
        """Per interface kind: every driver_info field of the default implementation.

        What ``driver properties`` prints: name, description, type, default
        and whether the field is required and secret.
        """
        result = {}
        for kind in interface_types.ALL:
            impl = self.interfaces[kind][self.default_interface(hw_name, kind)]
            result[kind] = [
                {"name": p.name, "description": p.description, "required": p.required,
                 "secret": p.secret, "type": p.type, "default": p.default}
                for p in impl.driver_info_schema]
        return result

    def describe_all(self):
        """What ``driver list`` starts from: :meth:`describe` of each type, by name."""
        return [self.describe(name) for name in sorted(self.hardware_types)]

    def describe(self, hw_name):
        """What ``driver show`` prints: enabled and default implementations per kind."""
        hw = self.hardware_type(hw_name)
        info = {"name": hw_name, "description": hw.description}
        for kind in interface_types.ALL:
            info["default_%s_interface" % kind] = self.default_interface(hw_name, kind)
            info["enabled_%s_interfaces" % kind] = self.usable(hw_name, kind)
        return info


def get_registry():
    """The process-wide registry, loaded from config on first use."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = Registry()
    return _registry


def reset():
    """Forget the loaded registry (config changed, or between tests)."""
    global _registry
    with _lock:
        _registry = None
