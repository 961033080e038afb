"""An inline template's placeholder whose value is a JSON object or list is refused.

A profile's placeholder is a declared string field, so ``vm: ["web1"]``
was refused naming it; an inline template's placeholder took any value
and rendered it with ``str()``, so ``{"id": 1}`` ran as the word
``{'id': 1}``, a Python repr no command expects. It is refused the same
way now, naming the field.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers.task import StandaloneTask


@pytest.fixture(autouse=True)
def command_config(config):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__allow_local_commands=True,
           command__allow_node_templates=True)


def task(vm):
    return StandaloneTask.for_driver("command", {
        "command_power_on": "test {vm} = web1", "command_power_off": "true", "vm": vm},
        name="n")


@pytest.mark.parametrize("vm, kind", [({"id": 1}, "object"), (["web1"], "list")])
def test_a_container_value_is_refused_naming_the_field(vm, kind):
    node = task(vm)
    with pytest.raises(exception.InvalidParameterValue) as caught:
        node.driver.power.validate(node)
    assert ("field command_power_on uses {vm}, whose value is a JSON %s, not text: "
            "set vm to a string" % kind) in str(caught.value), str(caught.value)


def test_text_and_numbers_still_render():
    node = task("web1")
    node.driver.power.set_power_state(node, PowerState.ON)
    node = StandaloneTask.for_driver("command", {
        "command_power_on": "test {n} = 5", "command_power_off": "true", "n": 5}, name="n")
    node.driver.power.set_power_state(node, PowerState.ON)
