"""Power and provision states, named for the domain.

Values are Ironic's strings, so API clients written for Ironic read them
unchanged (``"power on"``, ``"power off"``, ``"rebooting"`` ...).
"""

import enum


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
        text = str(value).strip().lower()
        alias = _ALIASES.get(text)
        if alias is not None:
            return alias
        for member in cls:
            if member.value == text:
                return member
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

    def __str__(self):
        return self.value
