"""The conformance kit's class form takes every option its one-call form takes.

``check_management(..., one_time_boot_readable=False)`` exists for a
controller that reports a one-time boot device as persistent (sushy-tools'
emulator); a ``ManagementConformance`` subclass had no way to say it, so
the same driver failed in the class form the doc offers beside it.
"""

import dataclasses
import unittest

from hwdrivers.drivers.modules import fake
from hwdrivers.testing import conformance


def _reads_every_device_as_persistent(monkeypatch):
    real = fake.FakeManagement.get_boot_device

    def get_boot_device(self, task):
        return dict(real(self, task), persistent=True)  # a controller that keeps no "Once"

    monkeypatch.setattr(fake.FakeManagement, "get_boot_device", get_boot_device)


def _case(**attributes):
    """A TestCase made here, so pytest does not collect it on its own."""

    class Fake(conformance.ManagementConformance, unittest.TestCase):
        hardware_type = "fake-hardware"

        def driver_info(self):
            return {"fake_address": "10.0.0.1", "fake_password": "Fake-Pa55"}

        def unreachable_driver_info(self, host, port):
            return None

    return type("Fake", (Fake,), attributes)


def _run(case_class):
    suite = unittest.defaultTestLoader.loadTestsFromName(
        "test_set_then_get_boot_device_agree", case_class)
    result = unittest.TestResult()
    suite.run(result)
    return result


def test_the_class_form_takes_one_time_boot_readable(monkeypatch):
    _reads_every_device_as_persistent(monkeypatch)
    failed = _run(_case())
    assert len(failed.failures) == 1, failed.errors
    assert "persistent=False" in failed.failures[0][1]
    not_readable = _case(one_time_boot_readable=False)
    passed = _run(not_readable)
    assert passed.wasSuccessful(), passed.failures + passed.errors
    assert not_readable("test_set_then_get_boot_device_agree") \
        .conformance_subject().one_time_boot_readable is False


def test_every_subject_option_has_a_class_attribute():
    """A Subject field added later is offered by the class form too."""
    names = {"hardware_type": "hardware_type", "driver_info": "driver_info",
             "interfaces": "interfaces", "unreachable": "unreachable_driver_info",
             "power_timeout": "power_timeout", "config": "config_options",
             "one_time_boot_readable": "one_time_boot_readable"}
    for field in dataclasses.fields(conformance.Subject):
        assert field.name in names, "Subject.%s has no class-form attribute" % field.name
        assert hasattr(conformance.ManagementConformance, names[field.name]), field.name
