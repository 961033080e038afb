"""``hwdrivers-powerdriver``: our drivers behind the JSON protocol, run as a process.

Direct runs check the schema and the answers (errors included) per the
seed; the round trips run our external driver against
``hwdrivers-powerdriver`` as its executable — ours calling ours — for
fake-hardware and, with state that outlives each process, for snmp
against the emulated PDU.
"""

import json
import os
import subprocess
import sys

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import actions
from hwdrivers.drivers import factory
from hwdrivers.drivers.task import StandaloneTask

POWERDRIVER = os.path.join(os.path.dirname(sys.executable), "hwdrivers-powerdriver")


def powerdriver(*args, stdin=None, tmp_path=None):
    env = dict(os.environ)
    if tmp_path is not None:
        env["HOME"] = str(tmp_path)  # no user config file
    return subprocess.run([POWERDRIVER, *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env=env)


def answer(*args, params=None, raw=None):
    stdin = raw if raw is not None else json.dumps({"driverParameters": params or {}})
    proc = powerdriver(*args, stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- run directly -----------------------------------------------------------------

def test_schema_of_fake_hardware():
    proc = powerdriver("fake-hardware", "schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["fake_password"]["secret"] is True
    assert fields["fake_password"]["field_type"] == "password"
    assert fields["fake_address"]["field_type"] == "ip_address"
    assert fields["fake_username"]["secret"] is False
    assert schema["can_set_boot_order"] is True and schema["can_probe"] is False
    assert schema["ip_extractor"] == {"field_name": "fake_address"}


def test_schema_of_snmp():
    schema = json.loads(powerdriver("snmp", "schema").stdout)
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["snmp_address"]["required"] is True
    assert {n for n, f in fields.items() if f["secret"]} == {
        "snmp_community", "snmp_community_read", "snmp_community_write",
        "snmp_auth_key", "snmp_priv_key"}
    assert ["apc", "apc"] in fields["snmp_driver"]["choices"]
    assert schema["can_set_boot_order"] is False


def test_actions_answer_per_protocol(tmp_path):
    assert answer("fake-hardware", "power_on", params={"fake_password": "pw"}) == {
        "action_type": "power_on", "error": None}
    assert answer("fake-hardware", "power_query") == {
        "action_type": "power_query", "error": None, "data": {"status": "off"}}
    assert answer("fake-hardware", "set_boot_order", raw=json.dumps({
        "driverParameters": {}, "devices": [
            {"deviceType": "StorageDevice", "properties": {"serial": "x"}}]}))["error"] is None
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"driverParameters": {}}))
    proc = powerdriver("fake-hardware", "power_off", str(params))
    assert proc.returncode == 0 and json.loads(proc.stdout)["error"] is None


@pytest.mark.parametrize("args, stdin, code, words", [
    (("fake-hardware", "power_query"), '{"driverParameters": {"fake_address": "a b"}}',
     "settingsError", ["fake_address", "Fix them in the request's driverParameters."]),
    (("fake-hardware", "power_on"), "not json", "settingsError", ["not JSON"]),
    (("fake-hardware", "power_on"), '["a"]', "settingsError", ["driverParameters"]),
    (("fake-hardware", "probe"), '{"driverParameters": {}}', "unsupportedActionError",
     ["probe"]),
    (("fake-hardware", "set_boot_order"),
     '{"driverParameters": {}, "devices": [{"deviceType": "Floppy"}]}', "fatalError",
     ["Floppy"]),
    (("nosuchtype", "power_on"), '{"driverParameters": {}}', "settingsError",
     ["unknown hardware type nosuchtype"]),
    (("snmp", "set_boot_order"), '{"driverParameters": {}, "bootDevice": "pxe"}',
     "unsupportedActionError", ["noop"]),
])
def test_errors_answer_with_codes(args, stdin, code, words):
    result = answer(*args, raw=stdin)
    assert result["action_type"] == args[1]
    assert result["error"]["code"] == code, result
    for word in words:
        assert word in result["error"]["message"]
    assert "hwdrivers node set" not in result["error"]["message"]  # no node here


def test_secret_never_in_the_answer():
    result = answer("fake-hardware", "power_on",
                    params={"fake_password": "Hunter2-Secret", "fake_address": "a b"})
    assert result["error"]["code"] == "settingsError"
    assert "Hunter2-Secret" not in json.dumps(result)


def test_usage_errors_exit_2():
    assert powerdriver("fake-hardware", "dance").returncode == 2
    assert powerdriver("nosuchtype", "schema").returncode == 1


# -- ours calling ours ------------------------------------------------------------------

def _wrapper(external_drivers, name, hw_name):
    return external_drivers.add(
        name, '#!/bin/sh\nexec %s %s "$@"\n' % (POWERDRIVER, hw_name))


def test_round_trip_fake_hardware(external_drivers):
    _wrapper(external_drivers, "hwfake", "fake-hardware")
    info = {"external_driver": "hwfake", "fake_address": "10.2.3.4",
            "fake_password": "Pa55-Secret"}
    task = StandaloneTask.for_driver("external", driver_info=info)
    assert "fake_password" in task.driver.schema.secret_names
    assert factory.get_registry().mask(info)["fake_password"] == "******"
    assert task.driver.power.controller_key(task) == "external:hwfake:10.2.3.4"
    assert all(r["result"] for k, r in actions.validate(task).items()
               if k in ("power", "management"))
    # fake-hardware keeps power state on its node, which each powerdriver
    # run creates afresh: power_on succeeds, the next query reads off.
    task.driver.power.set_power_state(task, PowerState.ON)
    assert actions.get_power_state(task) == PowerState.OFF
    assert task.driver.management.get_supported_boot_devices(task) == ["pxe", "disk"]
    actions.set_boot_device(task, "pxe")
    bad = StandaloneTask.for_driver("external", driver_info=dict(info, fake_address="a b"))
    with pytest.raises(exception.InvalidParameterValue, match="fake_address"):
        bad.driver.power.validate(bad)


def test_round_trip_snmp_keeps_state(external_drivers, snmp_agent):
    _wrapper(external_drivers, "hwsnmp", "snmp")
    info = dict(snmp_agent.driver_info("apc", 9, version="2c"), external_driver="hwsnmp")
    task = StandaloneTask.for_driver("external", driver_info=info,
                                     management_interface="noop")
    assert {"snmp_community_read", "snmp_community_write"} <= (
        task.driver.schema.secret_names)
    assert task.driver.power.controller_key(task) == "external:hwsnmp:%s" % (
        snmp_agent.address)
    assert actions.set_power_state(task, "on") == PowerState.ON
    assert actions.get_power_state(task) == PowerState.ON
    assert actions.set_power_state(task, "off") == PowerState.OFF
    wrong = StandaloneTask.for_driver("external", driver_info=dict(
        info, snmp_outlet=999), management_interface="noop")
    with pytest.raises(exception.DriverSettingsError, match="999") as caught:
        actions.get_power_state(wrong)
    assert "'private'" not in str(caught.value) and '"private"' not in str(caught.value)


@pytest.mark.skipif(not os.access("/usr/bin/ipmitool", os.X_OK),
                    reason="Debian's ipmitool is not installed (apt install ipmitool)")
def test_round_trip_ipmi_against_a_fake_bmc(external_drivers):
    from tests.fixtures.ipmi_bmc import start_fake_bmcs
    _wrapper(external_drivers, "hwipmi", "ipmi")
    with start_fake_bmcs(1) as bmcs:
        info = dict(bmcs.driver_info(0), external_driver="hwipmi")
        task = StandaloneTask.for_driver("external", driver_info=info)
        assert "ipmi_password" in task.driver.schema.secret_names
        assert factory.get_registry().mask(info)["ipmi_password"] == "******"
        assert actions.set_power_state(task, "on") == PowerState.ON
        assert "power_on" in bmcs.events(bmcs.ports[0])
        assert actions.get_power_state(task) == PowerState.ON
        actions.set_boot_device(task, "pxe")
        assert "set_boot" in bmcs.events(bmcs.ports[0])
        assert actions.set_power_state(task, "off") == PowerState.OFF
        wrong = StandaloneTask.for_driver("external", driver_info=dict(
            info, ipmi_password="Wr0ng-Pa55word"))
        with pytest.raises(exception.DriverAuthError) as caught:
            actions.get_power_state(wrong)
        assert "Wr0ng-Pa55word" not in str(caught.value)
