"""PowerState.parse: every spelling it accepts, and a clear error for the rest."""

import pytest

from hwdrivers.common.states import PowerState


@pytest.mark.parametrize("text, state", [
    ("power on", PowerState.ON), ("power off", PowerState.OFF),
    ("rebooting", PowerState.REBOOT), ("soft rebooting", PowerState.SOFT_REBOOT),
    ("soft power off", PowerState.SOFT_OFF), ("error", PowerState.ERROR),
    ("on", PowerState.ON), ("off", PowerState.OFF), ("reboot", PowerState.REBOOT),
    ("soft-reboot", PowerState.SOFT_REBOOT), ("soft_reboot", PowerState.SOFT_REBOOT),
    ("soft-off", PowerState.SOFT_OFF), ("soft_off", PowerState.SOFT_OFF),
    (" Power On ", PowerState.ON), ("OFF", PowerState.OFF),
    (PowerState.SOFT_OFF, PowerState.SOFT_OFF),
])
def test_accepted_spellings(text, state):
    assert PowerState.parse(text) is state


@pytest.mark.parametrize("value", ["sideways", "", "power", None, 3, ["power on"],
                                   {"target": "on"}, b"power on"])
def test_anything_else_is_a_value_error_naming_the_choices(value):
    with pytest.raises(ValueError) as caught:
        PowerState.parse(value)
    message = str(caught.value)
    assert repr(value) in message and "power on, power off" in message
    assert "error" not in message.split("use one of:")[1]  # not a target to ask for
