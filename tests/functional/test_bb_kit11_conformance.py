"""The conformance kit against an external driver written in sh, as a driver
author writes one from doc/drivers/external.md: an address and a port field,
a secret, set_boot_order, and connError when nothing answers at the port.
"""

import pytest

from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.drivers.modules import external
from hwdrivers.testing import conformance

PASSWORD = "Pdu-Secret-4711"

# POSIX sh, no JSON library: the "PDU" answers on port 161 only, and checks
# the password; state in files beside the executable.
DRIVER = r'''#!/bin/sh
STATE=%(state)s
if [ "$1" = schema ]; then
  cat <<'EOF'
{"name": "shpdu", "can_set_boot_order": true,
 "fields": [
  {"name": "pdu_address", "label": "PDU address", "field_type": "ip_address", "required": true},
  {"name": "pdu_port", "label": "PDU port", "type": "port", "default": 161},
  {"name": "outlet", "label": "Outlet", "type": "int", "min": 1, "required": true},
  {"name": "pdu_password", "label": "Password", "field_type": "password", "required": true}
 ]}
EOF
  exit 0
fi
input=$(cat)
answer() { printf '{"action_type": "%%s", "error": %%s, "data": %%s}\n' "$1" "$2" "$3"; exit 0; }
case "$input" in
  *'"pdu_port": 161'*) ;;
  *) answer "$1" '{"code": "connError", "message": "no answer from the PDU"}' null ;;
esac
case "$input" in
  *'"pdu_password": "%(password)s"'*) ;;
  *) answer "$1" '{"code": "authError", "message": "password refused"}' null ;;
esac
case "$1" in
  power_on) echo on > "$STATE/power"; answer "$1" null null ;;
  power_off) echo off > "$STATE/power"; answer "$1" null null ;;
  power_query) answer "$1" null "{\"status\": \"$(cat "$STATE/power" 2>/dev/null || echo off)\"}" ;;
  set_boot_order) echo "$input" > "$STATE/boot"; answer "$1" null null ;;
  *) answer "$1" '{"code": "unsupportedActionError", "message": "no such action"}' null ;;
esac
'''


@pytest.fixture
def shpdu(tmp_path):
    directory = tmp_path / "drivers"
    directory.mkdir()
    path = directory / "shpdu"
    path.write_text(DRIVER % {"state": tmp_path, "password": PASSWORD})
    path.chmod(0o755)
    external.clear_cache()
    yield {"dir": str(directory), "state": tmp_path,
           "info": {"external_driver": "shpdu", "pdu_address": "10.0.0.1", "outlet": 3,
                    "pdu_password": PASSWORD}}
    external.clear_cache()


def test_management_checks_pass_a_driver_that_cannot_read_the_boot_device_back(shpdu):
    """The protocol cannot read the boot order back: get_boot_device answers
    "cannot tell" (None) without running the executable, so it cannot fail
    against a port that refuses. The taxonomy check failed every external
    driver declaring an address field ("get_boot_device succeeded against a
    port that refuses"), as the doc's schema example does."""
    options = {"config": {"external__driver_paths": [shpdu["dir"]]}, "power_timeout": 5}
    conformance.check_power("external", shpdu["info"], **options)
    conformance.check_management("external", shpdu["info"], **options)
    assert '"bootDevice": "disk"' in (shpdu["state"] / "boot").read_text()  # the last set


def test_the_unreachable_set_boot_device_is_still_checked(shpdu):
    """Only a read that says "cannot tell" is let pass: a set_boot_device
    that succeeds against a port that refuses still fails the check."""
    subject = conformance.Subject(
        "external", shpdu["info"], config={"external__driver_paths": [shpdu["dir"]]},
        unreachable=lambda host, port: dict(shpdu["info"], pdu_address=host))  # port 161
    with pytest.raises(AssertionError, match="set_boot_device succeeded against a port"):
        conformance.run(subject, [conformance.management_errors_belong_to_the_taxonomy])


def test_a_read_of_a_device_is_still_held_to_the_taxonomy(shpdu, monkeypatch):
    """A get_boot_device that names a device against a port that refuses did
    not ask the controller: still a failure."""
    monkeypatch.setattr(external.ExternalManagement, "get_boot_device",
                        lambda self, task: {"boot_device": boot_devices.PXE,
                                            "persistent": False})
    subject = conformance.Subject("external", shpdu["info"],
                                  config={"external__driver_paths": [shpdu["dir"]]})
    with pytest.raises(AssertionError, match="get_boot_device succeeded against a port"):
        conformance.run(subject, [conformance.management_errors_belong_to_the_taxonomy])
    assert exception.DriverConnectionError in exception.TAXONOMY.values()
