"""A driver author's external driver run through the conformance kit.

When the driver fails during a check (its power_on answers an error), the
kit's one-line ``check_power`` must still say which check failed and what
it asks, as it does for a failed assertion, instead of letting the driver's
DriverActionError through with no word of the kit. Real sh executable,
through the real external driver and supervisor.
"""

import pytest

from hwdrivers.testing import conformance

SCHEMA = ('{"fields": [{"name": "power_address", "field_type": "string", '
          '"required": true}, {"name": "power_pass", "field_type": "password"}]}')
DRIVER = """#!/bin/sh
if [ "$1" = schema ]; then echo '%s'; exit 0; fi
cat > /dev/null
case "$1" in
power_query) echo '{"data": {"status": "off"}}' ;;
power_on) echo '{"error": {"code": "actionError", "message": "relay 3 is jammed"}}' ;;
*) echo '{}' ;;
esac
""" % SCHEMA


def test_a_driver_error_during_a_check_names_the_check(external_drivers):
    external_drivers.add("jammed", DRIVER)
    info = {"external_driver": "jammed", "power_address": "relay-3",
            "power_pass": "Jammed-Secret-12"}
    with pytest.raises(AssertionError) as caught:
        conformance.check_power(
            "external", info, unreachable=lambda host, port: None,
            config={"external__driver_paths": [external_drivers.dir]})
    text = str(caught.value)
    assert text.startswith("conformance check set_then_get_power_state_agree failed: "
                           "the driver raised DriverActionError: "), text
    assert "relay 3 is jammed" in text and "(the check: Each supported target" in text, text
    assert "Jammed-Secret-12" not in text
