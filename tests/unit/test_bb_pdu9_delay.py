"""PDUDaemon listener: ``delay`` is read as strictly as the outlet number.

``float()`` read ``1_0`` as 10 s and ``١`` (Arabic-Indic one) or a
full-width digit as seconds: a typo in a request became another wait before
an outlet switched, while the same typo in ``port`` was refused. The refusal
changes nothing, so no service is needed to see it.
"""

import pytest

from hwdrivers.api import pdudaemon
from hwdrivers.conf import CONF


@pytest.fixture
def listener(config):
    return pdudaemon.Listener(service=None, conf=CONF)


@pytest.mark.parametrize("delay", ["1_0", "\u0661", "\uff15", "0x5", "inf", "nan",
                                   "-0.5", "3601"])
def test_delay_not_in_decimal_digits_is_a_400_naming_it(listener, delay):
    status, text = listener.handle("reboot", {"alias": "n1", "delay": delay})
    assert status == 400, text
    assert text.startswith("delay must be a number of seconds from 0 to 3600"), text


@pytest.mark.parametrize("delay, seconds", [("10", 10.0), (" 2.5 ", 2.5), ("0", 0.0),
                                            ("3600", 3600.0), ("1e1", 10.0)])
def test_decimal_delays_are_taken(listener, delay, seconds):
    assert listener.parse("on", {"alias": "n1", "delay": delay})[2] == seconds
