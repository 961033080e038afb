"""The conformance kit tells an external driver's author their error code is unknown.

An external driver that answers an unreachable controller with an error
code the protocol does not know (``connectionError`` for ``connError``)
raises the taxonomy's bare DriverError, fatal and never retried, and the
kit's taxonomy check passed it, since DriverError is in the taxonomy: the
author learnt nothing until a node's first network blip ended an operation
at once. The check now refuses a fatal error from an unreachable
controller, quoting it. Real sh executable, through the real external
driver and supervisor.
"""

import pytest

from hwdrivers.testing import conformance

SCHEMA = ('{"fields": [{"name": "power_address", "field_type": "ip_address", '
          '"required": true}, {"name": "power_port", "type": "port", "default": 22}]}')
DRIVER = """#!/bin/sh
if [ "$1" = schema ]; then echo '%s'; exit 0; fi
input=$(cat)
case "$input" in
*'"power_port": 22'*) echo '{"data": {"status": "off"}}' ;;
*) echo '{"error": {"code": "%s", "message": "no answer from the relay"}}' ;;
esac
"""


def subject(external_drivers, code):
    external_drivers.add("relay", DRIVER % (SCHEMA, code))
    return conformance.Subject(
        "external", {"external_driver": "relay", "power_address": "127.0.0.1"},
        config={"external__driver_paths": [external_drivers.dir]})


def test_an_unknown_error_code_from_an_unreachable_controller_fails_the_check(
        external_drivers):
    with pytest.raises(AssertionError) as caught:
        conformance.run(subject(external_drivers, "connectionError"),
                        [conformance.errors_belong_to_the_taxonomy])
    text = str(caught.value)
    assert "power.get_power_state of an unreachable controller raised DriverError " \
           "(fatalError, never retried)" in text, text
    assert "unknown error code 'connectionError'" in text, text
    assert "error code connError" in text, text


@pytest.mark.parametrize("code", ["connError", "actionError"])
def test_a_taxonomy_code_passes(external_drivers, code):
    conformance.run(subject(external_drivers, code), [conformance.errors_belong_to_the_taxonomy])
