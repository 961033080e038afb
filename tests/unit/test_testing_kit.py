"""hwdrivers.testing: the conformance checks catch what they promise to, the
fixtures work from unittest, and the product never loads the test tools."""

import logging
import socket
import subprocess
import sys
import types
import unittest

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers import task as driver_task
from hwdrivers.testing import conformance

SECRET = "Kit-Secret-9f8e"


class ToyPower(base.PowerInterface):
    """A power interface whose faults a test switches on one at a time."""

    driver_info_schema = params.Schema(
        params.Param("toy_address", "Controller address", required=True, type="address"),
        params.Param("toy_port", "Controller port", type="port", default=7000),
        params.Param("toy_password", "Password", secret=True),
    )

    def __init__(self, faults=()):
        super().__init__()
        self.faults = set(faults)
        self.state = PowerState.OFF

    def get_properties(self):
        properties = super().get_properties()
        if "hidden-param" in self.faults:
            properties.pop("toy_port")
        return properties

    def validate(self, task):
        super().validate(task)
        if "validate-connects" in self.faults:
            with socket.socket() as sock:
                sock.connect(("127.0.0.1", 9))

    def controller_key(self, task):
        info = task.node.driver_info
        if "key-has-secret" in self.faults:
            return "toy:%s:%s" % (info.get("toy_address"), info.get("toy_password"))
        return "toy:%s" % info.get("toy_address")

    def _call(self, task):
        info = self.parse_driver_info(task)
        if "logs-secret" in self.faults:
            logging.getLogger("toy").debug("login with %s", info["toy_password"])
        if info["toy_address"] != "10.0.0.1":
            if "untyped-error" in self.faults:
                raise OSError("connection refused")
            raise exception.DriverConnectionError("no answer from %s" % info["toy_address"])

    def get_power_state(self, task):
        self._call(task)
        return self.state

    def set_power_state(self, task, power_state, timeout=None):
        self._call(task)
        target = PowerState.parse(power_state)
        if target not in self.get_supported_power_states(task):
            if "accepts-anything" not in self.faults:
                raise exception.InvalidPowerState(reason="no %s" % target.value)
        if "ignores-off" in self.faults and target is PowerState.OFF:
            return
        self.state = target.resting

    def reboot(self, task, timeout=None):
        self.set_power_state(task, PowerState.ON)


class ToySubject(conformance.Subject):
    """Tasks over ToyPower, composed by hand (no entry point to install)."""

    def __init__(self, faults=()):
        super().__init__("toy", {"toy_address": "10.0.0.1", "toy_password": SECRET},
                         power_timeout=0.5)
        self.power = ToyPower(faults)

    def task(self, driver_info=None):
        info = dict(self.driver_info if driver_info is None else driver_info)
        node = driver_task.make_node("toy", info)
        driver = types.SimpleNamespace(power=self.power,
                                       schema_for=lambda _: self.power.driver_info_schema)
        return types.SimpleNamespace(node=node, driver=driver, shared=False, context=None,
                                     logger=logging.getLogger("toy"))


def test_a_conforming_driver_passes_every_power_check():
    for check in conformance.POWER_CHECKS:
        check(ToySubject())


@pytest.mark.parametrize("fault, check, message", [
    ("validate-connects", conformance.validate_never_touches_the_hardware,
     "touched the network"),
    ("hidden-param", conformance.every_parameter_in_get_properties,
     "declares toy_port but get_properties() does not list it"),
    ("logs-secret", conformance.secrets_never_in_errors_or_logs, "a log line holds"),
    ("ignores-off", conformance.set_then_get_power_state_agree, "expected"),
    ("accepts-anything", conformance.unsupported_states_raise_typed_errors,
     "but was accepted"),
    ("untyped-error", conformance.errors_belong_to_the_taxonomy,
     "raised OSError, not one of the taxonomy's classes"),
    ("key-has-secret", conformance.controller_key_is_stable, "holds a secret's value"),
])
def test_each_check_catches_its_fault(fault, check, message):
    with pytest.raises(AssertionError) as caught:
        check(ToySubject([fault]))
    assert message in str(caught.value)
    assert SECRET not in str(caught.value)


def test_an_undeclared_key_is_caught():
    subject = ToySubject()
    subject.driver_info["toy_pasword"] = "x"
    with pytest.raises(AssertionError, match="toy_pasword"):
        conformance.every_parameter_in_get_properties(subject)


class FixturesFromUnittest(unittest.TestCase):
    """The fixtures under plain unittest: set up, used, cleaned up."""

    def test_blackhole_and_config(self):
        from hwdrivers.conf import CONF
        from hwdrivers.testing import BlackHoleFixture, ConfigFixture
        config = ConfigFixture()
        config.setUp()
        self.addCleanup(config.cleanUp)
        config.set(conductor__lease_duration=7)
        self.assertEqual(CONF.conductor.lease_duration, 7)
        with BlackHoleFixture("tcp") as hole:
            with socket.create_connection(hole.peer.address, timeout=5):
                pass
        config.cleanUp()
        self.assertNotEqual(CONF.conductor.lease_duration, 7)
        config.setUp()

    def test_database(self):
        from hwdrivers.db import api as db_api
        from hwdrivers.testing import ConfigFixture, DatabaseFixture
        with ConfigFixture(), DatabaseFixture("sqlite") as database:
            self.assertTrue(database.url.startswith("sqlite:///"))
            db_api.create_node({"driver": "fake-hardware", "name": "kit"})
            self.assertEqual(db_api.get_node("kit")["name"], "kit")

    def test_unavailable_is_a_skip(self):
        from hwdrivers.testing import Unavailable
        self.assertTrue(issubclass(Unavailable, unittest.SkipTest))


def test_the_product_does_not_load_the_test_tools():
    """Importing hwdrivers, its drivers (the sim type too) and the testing
    package loads neither the fixtures library nor any emulator."""
    code = ("import sys\n"
            "import hwdrivers.testing, hwdrivers.testing.sim_driver\n"
            "from hwdrivers.drivers import factory\n"
            "from hwdrivers.cmd import server\n"
            "heavy = {'fixtures', 'sushy_tools', 'snmpsim', 'pyghmi', 'pytest'}\n"
            "print(sorted(heavy & set(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
