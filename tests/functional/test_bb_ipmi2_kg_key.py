"""A BMC with a Kg key (BMC key), as on hardened fleets, through the real ipmitool.

The fake BMC (pyghmi, hwdrivers/testing/ipmi_bmc.py) is given a Kg key of
20 bytes that are not UTF-8. ``ipmi_hex_kg_key`` was ignored, so such a BMC
refused every login; and a login with a missing or wrong key ("RAKP 4
message has invalid integrity check value") was a connection error that
named ipmi_address and was retried for [ipmi] command_retry_timeout.
"""

import json
import subprocess
import sys
import threading

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures import ipmi_bmc as ipmi_bmc_fixtures
from tests.fixtures.ipmi_bmc import PASSWORD, USERNAME, start_fake_bmcs
from tests.fixtures.processes import stop_group

IPMITOOL = ipmi_bmc_fixtures.IPMITOOL
KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a0b0c0ff"
# Runs the tests' fake BMC with a Kg key (hwdrivers.testing.ipmi_bmc.serve).
CHILD = """
import sys
from hwdrivers.testing import ipmi_bmc
plain = ipmi_bmc._make_classes
def with_kg():
    class KgBmc(plain()):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.set_kg(bytes.fromhex(sys.argv[1]))
    return KgBmc
ipmi_bmc._make_classes = with_kg
ipmi_bmc.serve(1, {%r: (%r, "ADMINISTRATOR")})
""" % (USERNAME, PASSWORD)

pytestmark = ipmi_bmc_fixtures.needs_ipmitool


@pytest.fixture(autouse=True)
def ipmi_config(config):
    ipmi_bmc_fixtures.ipmitool_config(config, ipmi__ipmitool_path=IPMITOOL)


@pytest.fixture(scope="module")
def kg_bmc_port():
    pytest.importorskip("pyghmi")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, KEY], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = {}
    reader = threading.Thread(target=lambda: line.update(l=proc.stdout.readline()),
                              daemon=True)
    reader.start()
    reader.join(30)
    try:
        yield json.loads(line.get("l") or "{}")["ports"][0]
    finally:
        stop_group(proc)


def task_for(port, **info):
    return StandaloneTask.for_driver("ipmi", name="kg-node", driver_info=dict(
        {"ipmi_address": "127.0.0.1", "ipmi_port": port, "ipmi_username": USERNAME,
         "ipmi_password": PASSWORD, "ipmi_cipher_suite": 3}, **info))


def test_kg_key_logs_in(kg_bmc_port):
    state = actions.get_power_state(task_for(kg_bmc_port, ipmi_hex_kg_key=KEY))
    assert state.value in ("power on", "power off")


@pytest.mark.parametrize("key", [None, "0102030405"])
def test_missing_or_wrong_kg_key_is_an_auth_error_naming_the_field(kg_bmc_port, key):
    info = {"ipmi_hex_kg_key": key} if key else {}
    with pytest.raises(exception.DriverAuthError) as caught:
        actions.get_power_state(task_for(kg_bmc_port, **info))
    message = str(caught.value)
    assert "ipmi_hex_kg_key" in message, message
    assert PASSWORD not in message and KEY not in message


def test_kg_key_for_a_bmc_without_one_says_to_unset_it():
    with start_fake_bmcs(1) as plain:
        task = task_for(plain.ports[0], ipmi_hex_kg_key=KEY)
        with pytest.raises(exception.DriverAuthError) as caught:
            actions.get_power_state(task)
    assert "or unset it if the BMC has none" in str(caught.value), str(caught.value)
