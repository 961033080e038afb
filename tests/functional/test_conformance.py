"""Every in-tree power and management interface passes hwdrivers.testing.conformance.

Each driver runs the same checks a third-party author runs (doc/writing-a-
driver.md), against its emulator: ipmi on pyghmi's fake BMCs, redfish on
sushy-tools, snmp on snmpsim, command on a state-file hypervisor (here and
over SSH to a real sshd), external on the example Python driver, sim on a
simulated machine, fake-hardware on nothing.
"""

import unittest

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.conf import command_profile
from hwdrivers.drivers.modules import ssh
from hwdrivers.testing import MachineFixture
from hwdrivers.testing import RedfishEmulatorFixture
from hwdrivers.testing import conformance

NOWHERE = {"unreachable": lambda host, port: None}  # drivers with no controller to miss


def test_fake_hardware():
    info = {"fake_address": "10.0.0.1", "fake_password": "Fake-Pa55"}
    conformance.check_power("fake-hardware", info, **NOWHERE)
    conformance.check_management("fake-hardware", info, **NOWHERE)


def test_ipmi(fake_bmcs):
    conformance.check_power("ipmi", fake_bmcs.driver_info(3))
    conformance.check_management("ipmi", fake_bmcs.driver_info(3))


def test_redfish():
    # Power changes of 1 s (asynchronous still), not sushy-tools' random 1-11 s.
    with RedfishEmulatorFixture(power_delay=1) as fixture:
        emulator = fixture.emulator

        def unreachable(host, port):
            return emulator.driver_info("sys-f", redfish_address="http://%s:%d" % (host, port))

        # sushy-tools' fake driver answers a one-time boot override as Continuous.
        options = {"unreachable": unreachable, "config": {"redfish__command_timeout": 5},
                   "one_time_boot_readable": False}
        conformance.check_power("redfish", emulator.driver_info("sys-f"), **options)
        conformance.check_management("redfish", emulator.driver_info("sys-f"), **options)


@pytest.mark.parametrize("version", ["2c", "3"])
def test_snmp(snmp_agent, version):
    # A short reboot, and a refusing PDU given up on sooner than in production.
    conformance.check_power("snmp", snmp_agent.driver_info("apc_rackpdu", 21, version=version),
                            config={"snmp__reboot_delay": 0.2, "snmp__retries": 0})


def test_external(external_drivers):
    info = external_drivers.py_info("conformance")
    options = dict(NOWHERE, config={"external__driver_paths": [external_drivers.dir]})
    conformance.check_power("external", info, **options)
    conformance.check_management("external", info, **options)


@pytest.mark.parametrize("where", ["local", "ssh"])
def test_command(request, tmp_path, where):
    """A state-file hypervisor behind a command profile, run here or over SSH."""
    state = tmp_path / "vm.state"
    state.write_text("off\n")
    options = {"power_on": "echo on > {state_file}", "power_off": "echo off > {state_file}",
               "power_status": "cat {state_file}", "reboot_delay": 0}
    if where == "ssh":
        options.update(request.getfixturevalue("sshd").profile_options())
        request.addfinalizer(ssh.close_masters)  # masters outlive their commands
    command_profile.register_profile(hw_conf.CONF, "conformance", **options)
    info = {"command_profile": "conformance", "state_file": str(state),
            "command_secret": "Command-Secret-77"}
    conformance.check_power("command", info, power_timeout=10, config={
        "command__allow_local_commands": True, "command__command_timeout": 15.0}, **NOWHERE)


def test_sim():
    with MachineFixture() as machine:
        conformance.check_power("sim", machine.driver_info(), **NOWHERE)
        conformance.check_management("sim", machine.driver_info(), **NOWHERE)


class TestFakePowerAsTestCase(conformance.PowerConformance, unittest.TestCase):
    """The class form, run by pytest as by unittest (see also test_testing_kit.py)."""

    hardware_type = "fake-hardware"

    def driver_info(self):
        return {"fake_address": "10.0.0.2"}

    def unreachable_driver_info(self, host, port):
        return None
