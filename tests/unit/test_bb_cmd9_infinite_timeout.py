"""An inline node's command_timeout of "inf" is refused by name, not a crash.

A float field takes ``inf`` (and ``1e999``): the node validated, and then
every command it ran ended in an OverflowError, an untyped crash naming no
field, from wherever the timeout met an integer. The configuration's own
timeouts refuse infinity already; the node's field now does too.
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


def task(**info):
    return StandaloneTask.for_driver("command", dict(
        {"command_power_on": "true", "command_power_off": "true"}, **info), name="n")


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e999", float("inf")])
def test_an_infinite_timeout_is_refused_naming_the_field(value):
    node = task(command_timeout=value)
    with pytest.raises(exception.InvalidParameterValue) as caught:
        node.driver.power.set_power_state(node, PowerState.ON)
    assert "field command_timeout (got" in str(caught.value)
    assert "must be a finite decimal number" in str(caught.value)


def test_a_finite_timeout_still_runs():
    node = task(command_timeout="2.5")
    node.driver.power.set_power_state(node, PowerState.ON)
    assert node.driver.power.get_power_state(node) == PowerState.ON
