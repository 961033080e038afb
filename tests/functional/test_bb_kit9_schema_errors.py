"""A schema read that failed is not a schema with no fields.

An executable that answers ``schema`` with a protocol error (it cannot
read its own configuration file, or does not implement ``schema``), or
prints a schema and exits non-zero, printed JSON all the same, and it was
taken for a schema declaring nothing. The node then validated, and its
other fields, passwords included, were undeclared, so shown unmasked in
every listing while the file stayed unchanged; a schema that cannot be read
masks them all. Real sh executables, run through the real supervisor.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.task import StandaloneTask

PASSWORD = "Unmasked-Secret-5150"
ANSWER = '{"data": {"status": "on"}}'

SCHEMAS = {
    "an error answer": (
        'echo \'{"action_type": "schema", "error": {"code": "settingsError", '
        '"message": "cannot read /etc/relay.conf"}}\'; exit 0',
        exception.DriverSettingsError,
        "answered schema with error 'settingsError': cannot read /etc/relay.conf"),
    "an unknown action": (
        'echo \'{"action_type": "schema", "error": {"code": "unsupportedActionError", '
        '"message": "unknown action schema"}}\'; exit 1',
        exception.DriverUnsupportedAction, "answered schema with error"),
    "an exit status": (
        'echo \'{"fields": [{"name": "power_pass", "field_type": "password"}]}\'; exit 3',
        exception.DriverActionError,
        "(exit status 3): it exited with an error after printing a schema"),
}


@pytest.mark.parametrize("what", sorted(SCHEMAS))
def test_a_failed_schema_read_is_an_error_and_masks_every_field(external_drivers, what):
    body, error, said = SCHEMAS[what]
    external_drivers.add("relay", "#!/bin/sh\nif [ \"$1\" = schema ]; then %s\nfi\n"
                                  "echo '%s'\n" % (body, ANSWER))
    info = {"external_driver": "relay", "power_pass": PASSWORD}
    task = StandaloneTask.for_driver("external", info)
    with pytest.raises(error) as caught:
        task.driver.power.validate(task)
    assert said in str(caught.value), str(caught.value)
    schema = task.driver.power.driver_info_schema_for(info)
    assert "power_pass" in schema.secret_names
    assert PASSWORD not in str(task.driver.registry.mask(info))


def test_a_schema_with_no_fields_is_still_one(external_drivers):
    external_drivers.add("bare", "#!/bin/sh\nif [ \"$1\" = schema ]; then echo '{}'; "
                                 "exit 0; fi\ncat >/dev/null\necho '%s'\n" % ANSWER)
    task = StandaloneTask.for_driver("external", {"external_driver": "bare"})
    task.driver.power.validate(task)
    assert task.driver.power.get_power_state(task) == "power on"
