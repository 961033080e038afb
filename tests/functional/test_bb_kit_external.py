"""External drivers that misbehave the way a driver author's first attempt does.

Real executables (sh, written into the ``external_drivers`` fixture's
driver_paths), run through the real supervisor: a schema whose fields are
the wrong JSON types, output nested past Python's recursion limit, and a
driver that echoes its parameters (the secret among them) back in places
other than ``error.message``. Each must end in a taxonomy error naming the
executable, never a TypeError or RecursionError, never the secret's value,
and a node whose executable's schema is unusable must still be listable.
"""

import json

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import factory
from hwdrivers.drivers.task import StandaloneTask

PASSWORD = "Echoed-Secret-77"
FIELD = '{"name": "power_address", "field_type": "ip_address", "required": true}'
SECRET = '{"name": "power_pass", "field_type": "password"}'


def write_driver(external_drivers, name, schema, body='echo \'{"data": {"status": "on"}}\''):
    """A sh driver printing ``schema`` for schema and running ``body`` otherwise."""
    return external_drivers.add(name, (
        "#!/bin/sh\nif [ \"$1\" = schema ]; then cat <<'EOF'\n%s\nEOF\nexit 0; fi\n"
        "cat > /dev/null\n%s\n" % (schema, body)))


def make_task(name, password=PASSWORD):
    return StandaloneTask.for_driver("external", {
        "external_driver": name, "power_address": "127.0.0.1", "power_pass": password})


BAD_SCHEMAS = {
    "field_type is a list": '{"fields": [%s, {"name": "z", "field_type": ["int"]}]}' % FIELD,
    "type is a list": '{"fields": [%s, {"name": "z", "type": ["int"]}]}' % FIELD,
    "min is a string": '{"fields": [%s, {"name": "z", "type": "int", "min": "one"}]}' % FIELD,
    "max is a string, with a default":
        '{"fields": [%s, {"name": "z", "type": "int", "max": "x", "default": 3}]}' % FIELD,
    "ip_extractor field_name is a list":
        '{"ip_extractor": {"field_name": ["power_address"]}, "fields": [%s]}' % FIELD,
    "ip_extractor pattern is a number":
        '{"ip_extractor": {"field_name": "power_address", "pattern": 5}, "fields": [%s]}'
        % FIELD,
    "choices is an object":
        '{"fields": [%s, {"name": "z", "type": "choice", "choices": {"a": 1}}]}' % FIELD,
    "nested past the recursion limit": "[" * 100000,
}


@pytest.mark.parametrize("why", sorted(BAD_SCHEMAS))
def test_an_unusable_schema_is_a_driver_error_naming_the_executable(external_drivers, why):
    path = write_driver(external_drivers, "bad", BAD_SCHEMAS[why])
    task = make_task("bad")
    for call in (task.driver.power.validate, task.driver.power.get_power_state):
        with pytest.raises(exception.DriverError) as caught:
            call(task)
        assert path in str(caught.value) and "schema" in str(caught.value)


@pytest.mark.parametrize("why", sorted(BAD_SCHEMAS))
def test_a_node_with_an_unusable_schema_is_still_masked_and_keyed(external_drivers, why):
    """Listing nodes masks each through its executable's schema: one broken
    executable must not turn every listing into a server error."""
    write_driver(external_drivers, "bad", BAD_SCHEMAS[why])
    info = make_task("bad").node.driver_info
    masked = factory.get_registry().mask(info)
    assert masked["external_driver"] == "bad"
    assert masked["power_pass"] == "******"
    task = make_task("bad")
    assert task.driver.power.controller_key(task).startswith("external:bad:")


def test_a_power_answer_nested_past_the_recursion_limit_is_garbage(external_drivers):
    write_driver(external_drivers, "deep", '{"fields": [%s, %s]}' % (FIELD, SECRET),
                 "python3 -c 'print(\"[\" * 100000)'")
    task = make_task("deep")
    with pytest.raises(exception.DriverActionError, match="not JSON"):
        task.driver.power.get_power_state(task)


ECHOES = {
    "action_type": '{"action_type": "%s", "error": null}',
    "unknown error code": '{"action_type": "power_query", "error": {"code": "%s", '
                          '"message": "m"}}',
    "status": '{"action_type": "power_query", "error": null, "data": {"status": "%s"}}',
}


@pytest.mark.parametrize("where", sorted(ECHOES))
def test_a_secret_echoed_outside_the_message_is_masked(external_drivers, where):
    write_driver(external_drivers, "echo", '{"fields": [%s, %s]}' % (FIELD, SECRET),
                 "printf '%s\\n' %s" % (ECHOES[where], PASSWORD))
    task = make_task("echo")
    with pytest.raises(exception.DriverError) as caught:
        task.driver.power.get_power_state(task)
    text = "%s %r" % (caught.value, caught.value.args)
    assert PASSWORD not in text
    assert "******" in text


@pytest.mark.parametrize("password", ["Pässwörd-123456", 'quo"te\\slash-123'])
def test_a_secret_echoed_json_escaped_on_stderr_is_masked(external_drivers, password):
    """A driver that dumps its stdin to stderr (``set -x``, a traceback)
    shows the secret as JSON wrote it: ``\\u00e4`` for ``ä``, ``\\"`` for ``"``."""
    external_drivers.add("dump", (
        "#!/bin/sh\nif [ \"$1\" = schema ]; then echo '{\"fields\": [%s, %s]}'; exit 0; fi\n"
        "cat >&2\necho not json\nexit 1\n" % (FIELD, SECRET)))
    task = make_task("dump", password)
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.get_power_state(task)
    text = str(caught.value)
    assert "stderr:" in text and "power_pass" in text  # the dump is shown...
    for shown in (password, json.dumps(password)[1:-1],
                  json.dumps(password, ensure_ascii=False)[1:-1]):
        assert shown not in text  # ...without the secret, however it was escaped


def test_a_huge_error_message_is_cut(external_drivers):
    """An answer may hold up to 1 MiB; its message becomes last_error, history
    and a log line on each retry, so only its start is shown, the secret
    masked before the cut."""
    message = "start-%s-" % PASSWORD + "x" * 900000
    external_drivers.add("big", (
        "#!/bin/sh\nif [ \"$1\" = schema ]; then echo '{\"fields\": [%s, %s]}'; exit 0; fi\n"
        "cat > /dev/null\nprintf '{\"error\": {\"code\": \"actionError\", \"message\": "
        "\"%s\"}}'\n" % (FIELD, SECRET, message)))
    task = make_task("big")
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.get_power_state(task)
    text = str(caught.value)
    assert len(text) < 2000, len(text)
    assert "start-******-xxx" in text and "more characters" in text
    assert PASSWORD not in text


def test_a_huge_schema_error_is_cut(external_drivers):
    name = "n" * 200000
    write_driver(external_drivers, "bigschema", '{"fields": [{"name": "%s"}]}' % name)
    task = make_task("bigschema")
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.validate(task)
    assert len(str(caught.value)) < 2000 and "not allowed" in str(caught.value)
