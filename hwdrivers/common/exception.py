"""Every error hwdrivers raises, in one hierarchy.

Each class carries the HTTP status the API answers with (``code``) and a
message template. Messages name the node, the field and the fix; they never
carry a secret value: callers pass names, not values, of secret fields.

The driver error family (:class:`DriverError` and below) is the taxonomy of
the MAAS power-driver protocol: ``retryable`` says whether the conductor may
try again, ``taxonomy`` is the protocol's error code.
"""

__all__ = [
    "HWDriversError", "Invalid", "InvalidParameterValue", "MissingParameterValue",
    "InvalidPowerState", "InvalidBootDevice", "UnsupportedDriverExtension",
    "InterfaceNotAllowed", "NotFound", "NodeNotFound", "PortNotFound", "DriverNotFound",
    "ConductorNotFound", "Conflict", "NodeLocked", "NodeAlreadyExists",
    "PortAlreadyExists", "InvalidState", "InvalidStateRequested", "NodeInMaintenance", "LeaseLost",
    "NoFreeWorker", "ConsolesUnavailable", "DatabaseUnavailable", "DatabaseUnusable",
    "HardwareBusy", "HardwareCallTimeout",
    "ConfigInvalid", "DriverLoadError", "PowerStateFailure", "DriverError",
    "DriverSettingsError", "DriverAuthError", "DriverToolMissing",
    "DriverConnectionError", "DriverActionError", "DriverUnsupportedAction", "TAXONOMY",
]


class HWDriversError(Exception):
    """Base class. ``fmt`` is formatted with the keyword arguments."""

    fmt = "An unknown error occurred."
    code = 500

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.fmt % kwargs
            except (KeyError, TypeError, ValueError):
                message = self.fmt
        self.message = str(message)
        super().__init__(self.message)

    def __str__(self):
        return self.message


# -- 400: the request is wrong ------------------------------------------------

class Invalid(HWDriversError):
    fmt = "Invalid request: %(reason)s"
    code = 400


class InvalidStateRequested(Invalid):
    """A provision action the node's current state does not allow.

    A 400, as in Ironic, not a 409: Ironic's clients retry every 409 as a
    locked node (python-ironicclient 5 times, 2 s apart), so a request that
    cannot succeed would keep ``baremetal`` waiting for ~20 s before it
    showed this message.
    """

    fmt = "%(reason)s"


class NodeInMaintenance(Invalid):
    """A provision action maintenance refuses: 400, as in Ironic, whose
    clients retry every 409 (see InvalidStateRequested)."""

    fmt = "Node %(node)s is in maintenance (%(reason)s); %(action)s is refused."


class InvalidParameterValue(Invalid):
    """One or more inputs are wrong. ``errors`` lists every problem found.

    Built from ``errors``, the message may name the ``node`` first and end
    with the ``fix``; both are kept apart so a caller who knows better (the
    one-shot CLI has no stored node) can :meth:`reword` them.
    """

    fmt = "%(reason)s"

    def __init__(self, message=None, errors=None, node=None, fix=None, **kwargs):
        self.errors = list(errors or [])
        self.node = node
        self.fix = fix
        if message is None and self.errors and "reason" not in kwargs:
            message = "; ".join(self.errors)
            if fix:
                message += ". " + fix
            if node:
                message = "Node %s: %s" % (node, message)
        super().__init__(message, **kwargs)

    def reword(self, node=None, fix=None):
        """The same error naming ``node`` (or none) and ending with ``fix``.

        Only for an error built from ``errors``; any other is returned as is.
        """
        if not self.errors or self.fix is None:
            return self
        reworded = type(self)(errors=self.errors, node=node, fix=fix)
        reworded.__cause__ = self.__cause__
        return reworded


class MissingParameterValue(InvalidParameterValue):
    """Required inputs are absent (a subclass so callers can catch both)."""


class InvalidPowerState(InvalidParameterValue):
    fmt = "%(reason)s"


class InvalidBootDevice(InvalidParameterValue):
    fmt = "%(reason)s"


class UnsupportedDriverExtension(Invalid):
    fmt = ("Node %(node)s: its %(interface)s interface (%(implementation)s) "
           "does not support %(action)s.")


class InterfaceNotAllowed(InvalidParameterValue):
    """A node names an interface its hardware type cannot use."""

    fmt = "%(reason)s"


# -- 404 -----------------------------------------------------------------------

class NotFound(HWDriversError):
    fmt = "Resource could not be found."
    code = 404


class NodeNotFound(NotFound):
    """No such node. The message ends with how to list the nodes, in the
    words of where it is read: the hwdrivers CLI's command by default, the
    API's request in API answers (:meth:`api_message`), which ``baremetal``
    and openstacksdk users read."""

    fmt = "Node %(node)s could not be found; %(hint)s."
    CLI_HINT = "list nodes with 'hwdrivers node list'"
    API_HINT = "GET /v1/nodes lists them"

    def __init__(self, message=None, **kwargs):
        kwargs.setdefault("hint", self.CLI_HINT)
        super().__init__(message, **kwargs)

    def api_message(self):
        """The message as the API answers it."""
        if self.kwargs.get("hint") != self.CLI_HINT or "node" not in self.kwargs:
            return self.message
        return self.fmt % dict(self.kwargs, hint=self.API_HINT)


class PortNotFound(NotFound):
    fmt = "Port %(port)s could not be found."


class DriverNotFound(NotFound):
    fmt = ("Hardware type %(driver_name)s is not enabled or does not exist; "
           "enabled: %(enabled)s. Add it to [DEFAULT] enabled_hardware_types.")


class ConductorNotFound(NotFound):
    fmt = "Conductor %(conductor)s could not be found."


# -- 409 -----------------------------------------------------------------------

class Conflict(HWDriversError):
    fmt = "Conflict."
    code = 409


class NodeLocked(Conflict):
    fmt = ("Node %(node)s is locked by %(holder)s, please retry after the "
           "current operation is completed.")


class NodeAlreadyExists(Conflict):
    fmt = "A node with %(field)s %(value)s already exists."


class PortAlreadyExists(Conflict):
    fmt = "A port with address %(address)s already exists."


class InvalidState(Conflict):
    """The node's state forbids the change (deleting a deployed node): 409,
    as Ironic answers it."""

    fmt = "%(reason)s"


class LeaseLost(Conflict):
    fmt = ("Node %(node)s: the lock held by %(holder)s expired or was taken "
           "over while the task ran.")


# -- 503 -----------------------------------------------------------------------

class NoFreeWorker(HWDriversError):
    fmt = "No free worker to run the request; retry later."
    code = 503


class ConsolesUnavailable(HWDriversError):
    """This process runs no console manager (a CLI on the database, a bare manager)."""

    fmt = ("This process runs no conductor console manager; consoles are served by "
           "hwdrivers-server or hwdrivers-conductor through the API.")
    code = 501


class DatabaseUnavailable(HWDriversError):
    """The database cannot be reached or written right now; nothing was changed.

    Raised by :mod:`hwdrivers.db.engine` for connection loss, a locked,
    full or read-only SQLite file. ``reason`` is the driver's first line,
    never the statement or its parameters (they may carry secrets).
    """

    fmt = ("The database is unavailable (%(reason)s); nothing was changed, retry "
           "later.")
    code = 503


class DatabaseUnusable(DatabaseUnavailable):
    """The SQLite file itself cannot serve, and waiting will not change that.

    Not a database, damaged, read-only, a directory: "retry later" would
    send the operator waiting, so the message names the file, what is
    wrong and what to change. Still a DatabaseUnavailable (callers that
    skip a cycle on a lost database keep doing so); the API answers 503
    without Retry-After, as for a missing tool.
    """

    fmt = "%(reason)s"


class HardwareBusy(HWDriversError):
    """Too many API requests are already waiting on hardware; retry later."""

    fmt = ("%(count)d API requests are already waiting on hardware, the most "
           "[api] hardware_wait_slots allows; retry later.")
    code = 503


class HardwareCallTimeout(HWDriversError):
    """A synchronous hardware call outlived the API's wait; it goes on in a worker."""

    fmt = ("Node %(node)s: %(action)s did not finish within %(timeout)ss ([api] "
           "hardware_call_timeout); it goes on in the background and its outcome "
           "is recorded in the node's last_error.")
    code = 504


# -- configuration and loading (fix the config file, no retry) ----------------

class ConfigInvalid(HWDriversError):
    """The configuration cannot work. ``option`` names what to change."""

    fmt = "Invalid configuration: %(reason)s"

    def __init__(self, message=None, option=None, **kwargs):
        self.option = option
        super().__init__(message, **kwargs)


class DriverLoadError(ConfigInvalid):
    fmt = "Cannot load %(kind)s %(name)s: %(reason)s"


# -- power/management outcomes -------------------------------------------------

class PowerStateFailure(HWDriversError):
    fmt = "Node %(node)s: failed to reach power state %(state)s: %(reason)s"


# -- the driver error taxonomy -------------------------------------------------

class DriverError(HWDriversError):
    """A driver failed to talk to, or act on, the hardware.

    ``node`` and ``controller`` are filled in by whoever knows them (the
    driver, or the conductor on the way out) so every message says where.
    """

    fmt = "%(reason)s"
    code = 500
    retryable = False
    taxonomy = "fatalError"

    def __init__(self, message=None, node=None, controller=None, **kwargs):
        self.node = node
        self.controller = controller
        self.detail = message if message is not None else None
        super().__init__(message, **kwargs)
        self.detail = self.message
        self._render()

    def _render(self):
        where = []
        if self.node:
            where.append("node %s" % self.node)
        if self.controller:
            where.append("controller %s" % self.controller)
        prefix = ("%s: " % ", ".join(where)) if where else ""
        self.message = prefix + self.detail
        self.args = (self.message,)

    def locate(self, node=None, controller=None):
        """Attach where the error happened, if not already known; returns self."""
        self.node = self.node or node
        self.controller = self.controller or controller
        self._render()
        return self

    def gave_up_after(self, attempts):
        """Say how many attempts it took, when more than one; returns self."""
        if attempts > 1:
            self.detail += " (after %d attempts)" % attempts
            self._render()
        return self


class DriverSettingsError(DriverError):
    """driver_info or config is wrong: fix it, retrying cannot help."""

    taxonomy = "settingsError"
    code = 400


class DriverAuthError(DriverError):
    """The controller refused our credentials."""

    taxonomy = "authError"


class DriverToolMissing(DriverError):
    """A binary or library the driver needs is not installed."""

    taxonomy = "toolError"


class DriverConnectionError(DriverError):
    """The controller did not answer; retried with backoff up to a deadline."""

    taxonomy = "connError"
    retryable = True


class DriverActionError(DriverError):
    """The controller answered but the action failed; retried up to a deadline."""

    taxonomy = "actionError"
    retryable = True


class DriverUnsupportedAction(DriverError):
    """The hardware or driver cannot do this at all."""

    taxonomy = "unsupportedActionError"
    code = 400


#: Protocol code -> class, for drivers that report errors as codes.
TAXONOMY = {
    cls.taxonomy: cls
    for cls in (DriverError, DriverSettingsError, DriverAuthError,
                DriverToolMissing, DriverConnectionError, DriverActionError,
                DriverUnsupportedAction)
}
