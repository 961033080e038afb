"""params.redact: secrets masked in text from outside, without showing them by context."""

import pytest

from hwdrivers.drivers import params


@pytest.mark.parametrize("text, secrets, shown", [
    ("refused hunter22 at login", ["hunter22"], "refused ****** at login"),
    ("ipmitool -Phunter22 -H bmc", ["hunter22"], "ipmitool -P****** -H bmc"),
    ("no answer: a, b", ["a"], "no answer: ******, b"),
    ("no answer from agent", ["a"], "no answer from agent"),
    ("community=abc;", ["abc"], "community=******;"),
    ("fabcx", ["abc"], "fabcx"),
    ("x.y", [None, "", "y"], "x.******"),
    ("a+b (a+b)", ["a+b"], "****** (******)"),
    (ValueError("key k3y!"), ["k3y!"], "key ******"),
])
def test_redact(text, secrets, shown):
    assert params.redact(text, secrets) == shown
