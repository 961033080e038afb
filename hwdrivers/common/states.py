"""Power and provision states, named for the domain.

Values are Ironic's strings, so API clients written for Ironic read them
unchanged (``"power on"``, ``"power off"``, ``"rebooting"`` ...).
"""

import enum

__all__ = [
    "PowerState", "ProvisionState", "ProvisionAction", "STABLE_POWER_STATES",
    "ACTION_NAMES", "STABLE_PROVISION_STATES", "FAILURE_STATES", "ACTIVE_STATES",
    "PROVISION_TRANSITIONS", "allowed_actions", "STEP_INTERFACE_PRIORITY", "step_order",
]


class PowerState(str, enum.Enum):
    """A power state a node can be in, or a power action to take."""

    ON = "power on"
    OFF = "power off"
    ERROR = "error"
    # Actions: targets that are not resting states.
    REBOOT = "rebooting"
    SOFT_REBOOT = "soft rebooting"
    SOFT_OFF = "soft power off"

    def __str__(self):
        return self.value

    @classmethod
    def parse(cls, value):
        """Accept ``"on"``, ``"power on"``, ``PowerState.ON``; raise ValueError otherwise."""
        if isinstance(value, cls):
            return value
        if type(value) is str:  # the common case: a stored or sent value, as it is
            found = _POWER_BY_TEXT.get(value)
            if found is not None:
                return found
        found = _POWER_BY_TEXT.get(str(value).strip().lower())
        if found is not None:
            return found
        raise ValueError(
            "unknown power state %r; use one of: %s (or on, off, reboot, soft-off, "
            "soft-reboot)" % (value, ", ".join(
                m.value for m in cls if m is not cls.ERROR)))

    @property
    def resting(self):
        """The state a node rests in once this action completes."""
        return _RESTING[self]


_ALIASES = {
    "on": PowerState.ON,
    "off": PowerState.OFF,
    "reboot": PowerState.REBOOT,
    "soft-reboot": PowerState.SOFT_REBOOT,
    "soft_reboot": PowerState.SOFT_REBOOT,
    "soft-off": PowerState.SOFT_OFF,
    "soft_off": PowerState.SOFT_OFF,
}

#: Every spelling parse accepts: the values themselves, then the short forms.
#: (A table, not a walk over the members: a power action parses its target
#: and states about six times.)
_POWER_BY_TEXT = {member.value: member for member in PowerState}
_POWER_BY_TEXT.update(_ALIASES)

_RESTING = {
    PowerState.ON: PowerState.ON,
    PowerState.OFF: PowerState.OFF,
    PowerState.ERROR: PowerState.ERROR,
    PowerState.REBOOT: PowerState.ON,
    PowerState.SOFT_REBOOT: PowerState.ON,
    PowerState.SOFT_OFF: PowerState.OFF,
}

#: States a node can actually be read back in.
STABLE_POWER_STATES = frozenset({PowerState.ON, PowerState.OFF})


class ProvisionState(str, enum.Enum):
    """Provision states (Ironic's names)."""

    ENROLL = "enroll"
    VERIFYING = "verifying"
    MANAGEABLE = "manageable"
    CLEANING = "cleaning"
    CLEANWAIT = "clean wait"
    CLEANFAIL = "clean failed"
    AVAILABLE = "available"
    DEPLOYING = "deploying"
    DEPLOYWAIT = "wait call-back"
    DEPLOYFAIL = "deploy failed"
    ACTIVE = "active"
    DELETING = "deleting"
    ERROR = "error"
    INSPECTING = "inspecting"
    INSPECTWAIT = "inspect wait"
    INSPECTFAIL = "inspect failed"

    def __str__(self):
        return self.value


class ProvisionAction(str, enum.Enum):
    """What an operator asks of a node's provisioning (Ironic's verbs)."""

    MANAGE = "manage"
    PROVIDE = "provide"
    DEPLOY = "deploy"
    UNDEPLOY = "undeploy"
    ABORT = "abort"
    INSPECT = "inspect"
    CLEAN = "clean"
    REBUILD = "rebuild"

    def __str__(self):
        return self.value

    @classmethod
    def parse(cls, value):
        """Accept Ironic's spellings too (``active`` = deploy, ``deleted`` = undeploy)."""
        text = str(value).strip().lower() if value is not None else ""
        text = _ACTION_ALIASES.get(text, text)
        for member in cls:
            if member.value == text:
                return member
        raise ValueError("unknown provision action %r; use one of: %s" % (
            value, ", ".join(ACTION_NAMES)))


_ACTION_ALIASES = {"active": "deploy", "deleted": "undeploy"}

#: Every accepted spelling, for error messages.
ACTION_NAMES = ("manage", "provide", "deploy", "active", "undeploy", "deleted", "abort",
                "inspect", "clean", "rebuild")

_P = ProvisionState

#: States a node rests in; the others exist only while a conductor works
#: (or, for the wait states, while it waits for a callback).
STABLE_PROVISION_STATES = frozenset({
    _P.ENROLL, _P.MANAGEABLE, _P.AVAILABLE, _P.ACTIVE, _P.CLEANFAIL, _P.DEPLOYFAIL,
    _P.ERROR, _P.INSPECTFAIL})

#: Transient state -> where a node goes when the work in it fails or dies
#: (conductor crash, abort). Verification failing sends a node back to enroll.
FAILURE_STATES = {
    _P.VERIFYING: _P.ENROLL,
    _P.CLEANING: _P.CLEANFAIL,
    _P.CLEANWAIT: _P.CLEANFAIL,
    _P.DEPLOYING: _P.DEPLOYFAIL,
    _P.DEPLOYWAIT: _P.DEPLOYFAIL,
    _P.DELETING: _P.ERROR,
    _P.INSPECTING: _P.INSPECTFAIL,
    _P.INSPECTWAIT: _P.INSPECTFAIL,
}

#: Transient states a worker is busy in (not waiting for a callback).
ACTIVE_STATES = frozenset({_P.VERIFYING, _P.CLEANING, _P.DEPLOYING, _P.DELETING,
                           _P.INSPECTING})

#: (current state, action) -> (state while working, target state). Where the
#: working state equals the target, the transition needs no work.
PROVISION_TRANSITIONS = {
    (_P.ENROLL, ProvisionAction.MANAGE): (_P.VERIFYING, _P.MANAGEABLE),
    (_P.AVAILABLE, ProvisionAction.MANAGE): (_P.MANAGEABLE, _P.MANAGEABLE),
    (_P.CLEANFAIL, ProvisionAction.MANAGE): (_P.MANAGEABLE, _P.MANAGEABLE),
    (_P.MANAGEABLE, ProvisionAction.PROVIDE): (_P.CLEANING, _P.AVAILABLE),
    (_P.AVAILABLE, ProvisionAction.DEPLOY): (_P.DEPLOYING, _P.ACTIVE),
    (_P.DEPLOYFAIL, ProvisionAction.DEPLOY): (_P.DEPLOYING, _P.ACTIVE),
    # As Ironic: the instance's image written again (instance_info, config drive kept
    # unless a new one is given), from active or after a failed deploy...
    (_P.ACTIVE, ProvisionAction.REBUILD): (_P.DEPLOYING, _P.ACTIVE),
    (_P.DEPLOYFAIL, ProvisionAction.REBUILD): (_P.DEPLOYING, _P.ACTIVE),
    # and from error (an undeploy that failed), as Ironic rebuilds an errored instance
    # (Nova rebuilds an instance in ERROR): it was refused, undeploy the only way out.
    (_P.ERROR, ProvisionAction.REBUILD): (_P.DEPLOYING, _P.ACTIVE),
    (_P.ACTIVE, ProvisionAction.UNDEPLOY): (_P.DELETING, _P.AVAILABLE),
    (_P.DEPLOYFAIL, ProvisionAction.UNDEPLOY): (_P.DELETING, _P.AVAILABLE),
    (_P.ERROR, ProvisionAction.UNDEPLOY): (_P.DELETING, _P.AVAILABLE),
    # As Ironic: an instance deleted while its deploy waits for the ramdisk
    # (Nova deletes during a build) is torn down, not left to time out.
    (_P.DEPLOYWAIT, ProvisionAction.UNDEPLOY): (_P.DELETING, _P.AVAILABLE),
    (_P.CLEANWAIT, ProvisionAction.ABORT): (_P.CLEANFAIL, _P.CLEANFAIL),
    (_P.DEPLOYWAIT, ProvisionAction.ABORT): (_P.DEPLOYFAIL, _P.DEPLOYFAIL),
    # inspection (doc/inspection.md) and manual cleaning (requested clean steps)
    (_P.MANAGEABLE, ProvisionAction.INSPECT): (_P.INSPECTING, _P.MANAGEABLE),
    (_P.INSPECTFAIL, ProvisionAction.INSPECT): (_P.INSPECTING, _P.MANAGEABLE),
    (_P.INSPECTFAIL, ProvisionAction.MANAGE): (_P.MANAGEABLE, _P.MANAGEABLE),
    (_P.INSPECTWAIT, ProvisionAction.ABORT): (_P.INSPECTFAIL, _P.INSPECTFAIL),
    (_P.MANAGEABLE, ProvisionAction.CLEAN): (_P.CLEANING, _P.MANAGEABLE),
}


def allowed_actions(state):
    """The actions accepted in ``state``, in a stable order."""
    state = ProvisionState(state)
    return [action.value for action in ProvisionAction
            if (state, action) in PROVISION_TRANSITIONS]


#: Ironic's order for clean and deploy steps of equal priority: by interface,
#: highest first (``CLEANING_INTERFACE_PRIORITY``); interfaces not named here
#: come after, in the driver's order. Without it a tie ran in the order the
#: driver lists its interfaces (deploy before power and management).
STEP_INTERFACE_PRIORITY = {
    "vendor": 7, "power": 6, "management": 5, "firmware": 4, "deploy": 3, "bios": 2,
    "raid": 1,
}


def step_order(step):
    """Sort key of an automated clean or deploy step: priority, then interface, highest first."""
    return (-step["priority"], -STEP_INTERFACE_PRIORITY.get(step["interface"], 0))
