"""One-shot calls name the machine by its controller, and retry quietly unless -v.

A one-shot node has no record, so its UUID is random and means nothing to
the operator; the controller (``ipmi:127.0.0.1:<port>``) is what they typed.
The retries against a BMC that does not answer are summed up by the final
error ("after N attempts"), so they are printed only with ``-v``.
"""

import os
import re
import subprocess
import sys

import pytest

from tests.fixtures.snmp_agent import free_udp_port

HWDRIVERS = os.path.join(os.path.dirname(sys.executable), "hwdrivers")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

pytestmark = pytest.mark.skipif(not os.access("/usr/bin/ipmitool", os.X_OK),
                                reason="Debian's ipmitool is not installed")


@pytest.fixture
def cli(tmp_path):
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[DEFAULT]\nenabled_hardware_types = ipmi\n"
                    "enabled_power_interfaces = ipmitool\n"
                    "enabled_management_interfaces = ipmitool\n"
                    "[ipmi]\ntimeout = 1\nretries = 1\ncommand_retry_timeout = 4\n")
    env = dict(os.environ, HOME=str(tmp_path), HWDRIVERS_STATE_PATH=str(tmp_path / "s"))

    def run(*args):
        return subprocess.run([HWDRIVERS, "--config-file", str(conf), *args],
                              capture_output=True, text=True, timeout=120, env=env)
    return run


def test_unreachable_bmc_is_named_by_address_and_retries_show_only_with_v(cli):
    port = free_udp_port()  # nobody answers there
    base = ("power", "status", "--driver", "ipmi", "--driver-info",
            "ipmi_address=127.0.0.1", "--driver-info", "ipmi_port=%d" % port)
    proc = cli(*base)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # the error alone, no retry warnings
    assert lines[0].startswith("ERROR: node ipmi:127.0.0.1:%d, controller" % port)
    assert "attempts)" in lines[0] and not UUID.search(proc.stderr)

    proc = cli(*base, "-v")
    assert proc.returncode == 1
    retries = [line for line in proc.stderr.splitlines() if "retrying in" in line]
    assert retries and all("[node ipmi:127.0.0.1:%d]" % port in line for line in retries)
    assert not UUID.search(proc.stderr)

    proc = cli(*base, "--node-name", "db1")
    assert proc.stderr.startswith("ERROR: node db1, controller ipmi:127.0.0.1:%d" % port)


def test_invalid_driver_info_names_no_random_uuid(cli):
    proc = cli("power", "status", "--driver", "ipmi")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ERROR: missing required driver_info field(s): "
                                  "ipmi_address"), proc.stderr
    assert not UUID.search(proc.stderr)
    proc = cli("power", "status", "--driver", "ipmi", "--node-name", "db1")
    assert proc.stderr.startswith("ERROR: Node db1: missing required"), proc.stderr
