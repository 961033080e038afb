"""The kit's secret check runs the calls that change things with a refused secret too.

It ran only the reads (get_power_state; get_boot_device), so a driver whose
set path put the password in its error passed, and for a driver that cannot
read its boot device back (get_boot_device answers None without asking, as
the external protocol) the management check exercised no hardware call at
all. A fake driver that refuses a wrong password only where it writes,
leaking it there, must fail the check.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import fake
from hwdrivers.testing import conformance

PASSWORD = "Fake-Pa55"
INFO = {"fake_address": "10.0.0.1", "fake_password": PASSWORD}


def _leaky(real):
    def write(self, task, *args, **kwargs):
        given = task.node.driver_info.get("fake_password")
        if given != PASSWORD:
            raise exception.DriverAuthError("password %s refused" % given)
        return real(self, task, *args, **kwargs)
    return write


@pytest.mark.parametrize("kind,method,check", [
    ("power", "set_power_state", conformance.secrets_never_in_errors_or_logs),
    ("management", "set_boot_device", conformance.management_secrets_never_in_errors_or_logs),
])
def test_a_secret_leaked_by_a_write_fails_the_check(monkeypatch, kind, method, check):
    cls = fake.FakePower if kind == "power" else fake.FakeManagement
    monkeypatch.setattr(cls, method, _leaky(getattr(cls, method)))
    subject = conformance.Subject("fake-hardware", INFO,
                                  unreachable=lambda host, port: None)
    with pytest.raises(AssertionError, match="%s with a refused secret: the error holds"
                       % method):
        conformance.run(subject, [check])


def test_a_driver_that_keeps_secrets_still_passes():
    subject = conformance.Subject("fake-hardware", INFO, unreachable=lambda host, port: None)
    conformance.run(subject, [conformance.secrets_never_in_errors_or_logs,
                              conformance.management_secrets_never_in_errors_or_logs])
