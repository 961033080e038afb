"""An external driver whose stdout is not an answer: the error shows what it printed.

A driver author's first attempt often prints something besides the one JSON
object: a progress line before it, a byte-order mark, a usage text when the
action is not handled, nothing at all after a crash. The error must let the
author see what the conductor read -- its beginning, with the node's
secrets masked -- instead of only "stdout is not JSON". Real sh executables,
run through the real supervisor.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.task import StandaloneTask

PASSWORD = "Printed-Secret-5150"
SCHEMA = ('{"fields": [{"name": "power_address", "field_type": "ip_address", '
          '"required": true}, {"name": "power_pass", "field_type": "password"}, '
          '{"name": "power_vm", "field_type": "string"}]}')

#: What the driver prints for power_query -> what the error must say.
STDOUTS = {
    "a progress line first": (
        'echo "connecting to $addr"; echo \'{"data": {"status": "on"}}\'',
        ['it begins "connecting to 127.0.0.1\\n{', "print only the answer on stdout"]),
    "the password in its log line": (
        'echo "login with $pass"; echo \'{"data": {"status": "on"}}\'',
        ['it begins "login with ******\\n{']),
    "a byte-order mark": (
        "printf '\\357\\273\\277{\"data\": {\"status\": \"on\"}}'",
        ["Unexpected UTF-8 BOM", 'it begins "\\ufeff{"']),
    "nothing": ("true", ["stdout is not JSON: it is empty"]),
    "a long text": (
        "i=0; while [ $i -lt 50 ]; do printf 'abcdefghij'; i=$((i+1)); done",
        ['it begins "abcdefghij', "(400 more characters)"]),
}


def driver(external_drivers, body):
    return external_drivers.add("chatty", (
        "#!/bin/sh\nif [ \"$1\" = schema ]; then cat <<'EOF'\n%s\nEOF\nexit 0; fi\n"
        "input=$(cat)\n"
        "addr=$(echo \"$input\" | sed -n 's/.*\"power_address\": \"\\([^\"]*\\)\".*/\\1/p')\n"
        "pass=$(echo \"$input\" | sed -n 's/.*\"power_pass\": \"\\([^\"]*\\)\".*/\\1/p')\n"
        "%s\n" % (SCHEMA, body)))


@pytest.mark.parametrize("what", sorted(STDOUTS))
def test_not_json_quotes_how_stdout_begins(external_drivers, what):
    body, fragments = STDOUTS[what]
    driver(external_drivers, body)
    task = StandaloneTask.for_driver("external", {
        "external_driver": "chatty", "power_address": "127.0.0.1", "power_pass": PASSWORD})
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.get_power_state(task)
    text = str(caught.value)
    assert "gave no valid answer to power_query" in text and "not JSON" in text, text
    for fragment in fragments:
        assert fragment in text, text
    assert PASSWORD not in text


def test_a_schema_that_is_not_json_quotes_it(external_drivers):
    external_drivers.add("usage", "#!/bin/sh\necho 'usage: usage [on|off]'\nexit 0\n")
    task = StandaloneTask.for_driver("external", {"external_driver": "usage"})
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.validate(task)
    text = str(caught.value)
    assert "not a usable schema" in text, text
    assert 'it begins "usage: usage [on|off]\\n"' in text, text


@pytest.mark.parametrize("status, said", [("on", "still answered on, not off"),
                                          ("unknown", "still answered error or unknown")])
def test_a_reboot_whose_power_off_never_shows_says_what_power_query_answered(
        external_drivers, config, status, said):
    config(external__timeout=2.0)
    driver(external_drivers, 'echo \'{"data": {"status": "%s"}}\'' % status)
    task = StandaloneTask.for_driver("external", {
        "external_driver": "chatty", "power_address": "127.0.0.1", "power_pass": PASSWORD})
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.reboot(task)
    text = str(caught.value)
    assert "power_query %s" % said in text and "after power_off during reboot" in text, text


FORGED = "web1\n2026-12-02 12:00:00.000 7 ERROR hwdrivers.conductor [-] forged line"


@pytest.mark.parametrize("where, body", [
    ("error message", 'printf \'{"error": {"code": "actionError", "message": '
                      '"no domain %s"}}\' "$vm"'),
    ("stderr", 'printf \'no domain %b\\n\' "$vm" >&2; echo garbage'),
])
def test_text_echoing_a_node_value_stays_on_one_line(external_drivers, where, body):
    """A driver's message or stderr quoting a node's value (an API user's
    text) cannot start a line of its own in the error, logged on every retry."""
    driver(external_drivers, "vm=$(printf %s \"$input\" | sed -n "
                             "'s/.*\"power_vm\": \"\\([^\"]*\\)\".*/\\1/p')\n" + body)
    task = StandaloneTask.for_driver("external", {
        "external_driver": "chatty", "power_address": "127.0.0.1", "power_vm": FORGED,
        "power_pass": PASSWORD})
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.set_power_state(task, "power on")
    text = str(caught.value)
    assert "no domain web1\\n2026-12-02" in text, text
    assert "\n" not in text, text
