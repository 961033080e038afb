"""redfish bios error paths the emulator cannot produce (the emulator tests are functional)."""

import logging
import types

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import redfish_bios


def _task():
    return types.SimpleNamespace(node=types.SimpleNamespace(uuid="n-1", name="n1",
                                                            power_state=None),
                                 logger=logging.getLogger("test"))


def test_settings_that_do_not_take_effect_fail_the_step(monkeypatch, config):
    bios = redfish_bios.RedfishBIOS()
    config(redfish__bios_verify_timeout=1.0)
    monkeypatch.setattr(redfish_bios, "_POLL", (0.02, 0.02))
    monkeypatch.setattr(bios, "_gated", lambda task, func, *args: func(task, *args))
    monkeypatch.setattr(bios, "_patch", lambda task, settings: {"ProcTurboMode": "Disabled"})
    reboots = []
    monkeypatch.setattr(bios, "_reboot", reboots.append)
    monkeypatch.setattr(bios, "_read",
                        lambda task, action: ({"ProcTurboMode": "Enabled"}, {}))
    task = _task()
    with pytest.raises(exception.DriverActionError,
                       match=r"within 1s of the reboot \(\[redfish\] bios_verify_timeout\): "
                             r"ProcTurboMode is 'Enabled', wanted 'Disabled'"):
        bios.apply_configuration(task, settings=[{"name": "ProcTurboMode",
                                                  "value": "Disabled"}])
    assert reboots == [task]


def test_a_bmc_without_registry_is_checked_against_its_attribute_names():
    bios = redfish_bios.RedfishBIOS()
    resource = types.SimpleNamespace(attributes={"ProcTurboMode": "Enabled"},
                                     get_attribute_registry=lambda: None)
    registry = bios._registry(resource)
    assert registry == {"ProcTurboMode": {"attribute_type": None, "value": "Enabled"}}
    from hwdrivers.drivers.modules import bios_registry
    with pytest.raises(exception.InvalidParameterValue, match="Turbo does not exist.*"
                                                              "ProcTurboMode"):
        bios_registry.check_settings([{"name": "Turbo", "value": "x"}], registry)
    assert bios_registry.check_settings([{"name": "ProcTurboMode", "value": "x"}],
                                        registry) == [{"name": "ProcTurboMode", "value": "x"}]


def test_values_are_sent_in_the_registrys_json_types():
    typed = redfish_bios.RedfishBIOS._typed
    assert typed("12", {"attribute_type": "Integer"}) == 12
    assert typed("False", {"attribute_type": "Boolean"}) is False
    assert typed(True, {"attribute_type": "Boolean"}) is True
    assert typed("Uefi", {"attribute_type": "Enumeration"}) == "Uefi"
