"""The conformance kit catches a driver that leaks its secret where no error
or log line shows it: on the command line of a program it starts (ps shows
it to every user of the host) and in driver_internal_info (the API shows it
unmasked). The leaking driver runs a real program; the kit sees its argv
through Python's audit hooks. And a secret that is a number is looked for
as its digits, not a TypeError inside the kit."""

import subprocess

import pytest

from hwdrivers.drivers import params
from hwdrivers.testing import conformance
from tests.unit.test_testing_kit import SECRET
from tests.unit.test_testing_kit import ToyPower
from tests.unit.test_testing_kit import ToySubject


class LeakyPower(ToyPower):
    """ToyPower with the two leaks a test switches on."""

    def _call(self, task):
        info = self.parse_driver_info(task)
        if "argv" in self.faults:  # as 'ipmitool -P <password>' would
            subprocess.run(["true", "-P", info["toy_password"] or ""], check=True)
        if "internal-info" in self.faults:  # a "session" kept where the API shows it
            task.node.driver_internal_info = dict(
                task.node.driver_internal_info or {},
                toy_session={"user": "admin", "password": info["toy_password"]})
        super()._call(task)


class LeakySubject(ToySubject):
    def __init__(self, faults=()):
        super().__init__()
        self.power = LeakyPower(faults)


@pytest.mark.parametrize("check", [conformance.secrets_never_in_errors_or_logs,
                                   conformance.set_then_get_power_state_agree],
                         ids=lambda check: check.__name__)
@pytest.mark.parametrize("fault, message", [
    ("argv", "a command line holds a secret's value"),
    ("internal-info", "node.driver_internal_info holds a secret's value"),
])
def test_a_leaked_secret_is_caught(check, fault, message):
    with pytest.raises(AssertionError) as caught:
        check(LeakySubject([fault]))
    assert message in str(caught.value)
    assert "<SECRET>" in str(caught.value) or "Conformance-" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_driver_that_starts_programs_without_secrets_passes():
    subject = LeakySubject()
    subject.power.faults.add("argv")
    subject.driver_info = dict(subject.driver_info, toy_password="")
    for check in conformance.POWER_CHECKS:
        check(subject)


def test_watching_ends_with_the_check():
    conformance.set_then_get_power_state_agree(ToySubject())
    assert conformance._argv_watchers == []


class PinPower(ToyPower):
    """A controller whose secret is a number (a PIN declared int)."""

    driver_info_schema = params.Schema(
        params.Param("toy_address", "Controller address", required=True, type="address"),
        params.Param("toy_port", "Controller port", type="port", default=7000),
        params.Param("toy_password", "PIN", secret=True, type="int"),
    )


class PinSubject(ToySubject):
    def __init__(self):
        super().__init__()
        self.driver_info = {"toy_address": "10.0.0.1", "toy_password": 48213579}
        self.power = PinPower()


@pytest.mark.parametrize("check", conformance.POWER_CHECKS, ids=lambda check: check.__name__)
def test_a_secret_that_is_a_number_is_checked_as_text(check):
    check(PinSubject())  # was a TypeError: 'in <string>' requires string, not int
