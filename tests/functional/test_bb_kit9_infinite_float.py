"""A float field of "inf" is refused by name, not sent as JSON's missing Infinity.

A schema's ``float`` field takes ``inf`` and ``1e999`` (NaN was refused
already), and the parameters went to the executable as ``"timeout":
Infinity``, which is not JSON: a driver reading stdin with jq, Go or
Rust's serde failed to parse it and answered garbage, naming no field.
Real sh executable, through the real supervisor.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.task import StandaloneTask

SCHEMA = '{"fields": [{"name": "settle", "type": "float", "default": 1.5}]}'


@pytest.fixture
def driver(external_drivers, tmp_path):
    seen = tmp_path / "stdin"
    external_drivers.add("relay", (
        "#!/bin/sh\nif [ \"$1\" = schema ]; then echo '%s'; exit 0; fi\n"
        "cat > %s\necho '{\"data\": {\"status\": \"on\"}}'\n" % (SCHEMA, seen)))
    return seen


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e999"])
def test_an_infinite_float_is_refused_naming_the_field(driver, value):
    task = StandaloneTask.for_driver("external", {"external_driver": "relay",
                                                  "settle": value})
    with pytest.raises(exception.InvalidParameterValue) as caught:
        task.driver.power.get_power_state(task)
    assert "field settle (got" in str(caught.value), str(caught.value)
    assert "must be a finite decimal number" in str(caught.value)
    assert not driver.exists()  # the executable never ran


def test_a_finite_float_is_sent_as_a_number(driver):
    task = StandaloneTask.for_driver("external", {"external_driver": "relay",
                                                  "settle": "2.25"})
    assert task.driver.power.get_power_state(task) == "power on"
    assert '"settle": 2.25' in driver.read_text()
