"""The one-shot CLI (``hwdrivers power ...``) as a process, against a fake BMC.

Run with the real ipmitool against pyghmi's fake BMC (hwdrivers/testing/
ipmi_bmc.py), as an operator would drive one machine.
"""

import os
import re
import subprocess
import sys
import time

import pytest

from tests.fixtures.ipmi_bmc import PASSWORD
from tests.fixtures.ipmi_bmc import start_fake_bmcs

HWDRIVERS = os.path.join(os.path.dirname(sys.executable), "hwdrivers")
IPMITOOL = "/usr/bin/ipmitool"

pytestmark = pytest.mark.skipif(not os.access(IPMITOOL, os.X_OK),
                                reason="Debian's ipmitool is not installed "
                                       "(apt install ipmitool)")


@pytest.fixture
def cli(tmp_path):
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text(
        "[DEFAULT]\n"
        "enabled_hardware_types = ipmi\n"
        "enabled_power_interfaces = ipmitool\n"
        "enabled_management_interfaces = ipmitool,noop\n"
        "[conductor]\n"
        "soft_power_off_timeout = 1\n"
        "[ipmi]\n"
        "command_retry_timeout = 2\n"
        "ipmitool_path = %s\n" % IPMITOOL)
    env = dict(os.environ, HOME=str(tmp_path), HWDRIVERS_STATE_PATH=str(tmp_path / "state"))

    def run(*args, port, timeout=30):
        argv = [HWDRIVERS, "--config-file", str(conf), *args, "--driver", "ipmi",
                "--driver-info", "ipmi_address=127.0.0.1",
                "--driver-info", "ipmi_port=%d" % port,
                "--driver-info", "ipmi_username=admin", "--driver-info", "ipmi_password=-"]
        return subprocess.run(argv, input=PASSWORD + "\n", capture_output=True, text=True,
                              timeout=timeout, env=env)
    return run


@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf"])
def test_power_timeout_must_be_seconds_above_zero(cli, value):
    """``nan`` hung for ever on an OS that ignores ACPI; -1 blamed the config option."""
    with start_fake_bmcs(1, soft_off_delay=3600) as bmcs:
        port = bmcs.ports[0]
        assert cli("power", "on", port=port).returncode == 0
        started = time.monotonic()
        proc = cli("power", "off", "--soft", "--power-timeout", value, port=port)
        assert time.monotonic() - started < 10
        assert proc.returncode == 1, proc.stderr
        assert "--power-timeout %s is not a number of seconds above 0" % value in (
            proc.stderr)
        assert "power_soft" not in bmcs.events(port)


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


@pytest.mark.parametrize("extra, knob", [
    (("--power-timeout", "1"), "--power-timeout"),
    ((), "[conductor] soft_power_off_timeout")])
def test_soft_off_too_slow_names_the_controller_and_the_wait_that_ran_out(cli, extra, knob):
    """Not "Node <random uuid>: ... (raise [conductor] power_state_change_timeout)"."""
    with start_fake_bmcs(1, soft_off_delay=3600) as bmcs:
        port = bmcs.ports[0]
        assert cli("power", "on", port=port).returncode == 0
        proc = cli("power", "off", "--soft", *extra, port=port)
        assert proc.returncode == 1, proc.stderr
        assert "Node ipmi:127.0.0.1:%d: failed to reach power state power off: still " \
               "power on after 1.0s (raise %s if the hardware is slow)" % (port, knob) in (
                   proc.stderr)
        assert not UUID.search(proc.stderr), proc.stderr


def test_unsupported_boot_device_names_the_controller(cli):
    with start_fake_bmcs(1) as bmcs:
        port = bmcs.ports[0]
        proc = cli("boot-device", "set", "floppy", port=port)
        assert proc.returncode == 1, proc.stderr
        assert ("Node ipmi:127.0.0.1:%d: boot device 'floppy' is not supported by "
                "management interface ipmitool" % port) in proc.stderr
        assert not UUID.search(proc.stderr), proc.stderr


@pytest.mark.parametrize("extra", [("pxe",), ("--persistent",)])
def test_boot_device_show_refuses_a_device(cli, extra):
    """``show pxe`` printed the current device, exit 0: it read as set."""
    with start_fake_bmcs(1) as bmcs:
        port = bmcs.ports[0]
        proc = cli("boot-device", "show", *extra, port=port)
        assert proc.returncode == 1, proc.stdout
        assert "boot-device show takes no DEVICE or --persistent" in proc.stderr
        assert proc.stdout == ""
        assert cli("boot-device", "show", port=port).returncode == 0


def test_interface_not_enabled_does_not_name_a_random_uuid(cli):
    proc = cli("power", "status", "--power-interface", "fake", port=623)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ERROR: power_interface fake is not enabled; valid: "
                                  "ipmitool"), proc.stderr
    assert not UUID.search(proc.stderr), proc.stderr
