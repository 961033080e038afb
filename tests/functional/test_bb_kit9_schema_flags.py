"""A schema's flags are JSON booleans: a string is refused, not read as true.

A driver written in shell often prints its schema from a here-document,
where ``"required": "false"`` is an easy slip. Read with ``bool()``, every
non-empty string was true: the field became required and the node was
refused for missing it ("missing required driver_info field a"), which
sent the author looking at the node, not at the schema. The schema is now
refused, naming the field and the flag. Real sh executables, run through
the real supervisor.
"""

import json

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.task import StandaloneTask


def driver(external_drivers, name, schema):
    return external_drivers.add(name, (
        "#!/bin/sh\nif [ \"$1\" = schema ]; then cat <<'EOF'\n%s\nEOF\nexit 0; fi\n"
        "cat >/dev/null\necho '{\"data\": {\"status\": \"on\"}}'\n" % json.dumps(schema)))


@pytest.mark.parametrize("schema, said", [
    ({"fields": [{"name": "vm", "required": "false"}]},
     'field vm: required must be true or false (a JSON boolean), not "false"'),
    ({"fields": [{"name": "pw", "secret": "no"}]},
     'field pw: secret must be true or false (a JSON boolean), not "no"'),
    ({"can_probe": "false", "fields": []},
     'the schema: can_probe must be true or false (a JSON boolean), not "false"'),
    ({"can_set_boot_order": 1, "fields": []},
     "the schema: can_set_boot_order must be true or false (a JSON boolean), not 1"),
])
def test_a_flag_that_is_not_a_boolean_is_refused_by_name(external_drivers, schema, said):
    driver(external_drivers, "flags", schema)
    task = StandaloneTask.for_driver("external", {"external_driver": "flags", "vm": "a"})
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.validate(task)
    text = str(caught.value)
    assert "not a usable schema" in text and said in text, text


def test_boolean_and_absent_flags_still_read_as_written(external_drivers):
    driver(external_drivers, "flags", {"can_probe": False, "fields": [
        {"name": "vm", "required": False}, {"name": "pw", "secret": True},
        {"name": "port", "required": None}]})
    task = StandaloneTask.for_driver("external", {"external_driver": "flags"})
    task.driver.power.validate(task)  # nothing required
    schema = task.driver.power.driver_info_schema_for({"external_driver": "flags"})
    assert schema.secret_names == {"pw"}
    assert task.driver.power.get_power_state(task) == "power on"
