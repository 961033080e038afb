"""``hwdrivers-powerdriver`` answers malformed protocol input as the caller's error.

Run as a process, as a caller of the protocol runs it: JSON nested past
Python's recursion limit, a list where a device type or boot device
belongs, a string where ``persistent`` must be a boolean. Each is a
``settingsError`` (or the protocol's ``fatalError`` for an unknown device
type, as in the seed) with a message naming the key, never a Python
traceback on stderr.
"""

import json
import os
import subprocess
import sys

import pytest

POWERDRIVER = os.path.join(os.path.dirname(sys.executable), "hwdrivers-powerdriver")


def run(action, stdin, tmp_path):
    proc = subprocess.run([POWERDRIVER, "fake-hardware", action], input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, HOME=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)["error"]


@pytest.mark.parametrize("extra, code, words", [
    ({"bootDevice": ["pxe"]}, "settingsError", "bootDevice must be a string"),
    ({"devices": [{"deviceType": ["NetworkInterface"]}]}, "fatalError",
     "unknown device type"),
    ({"bootDevice": "pxe", "persistent": "false"}, "settingsError",
     "persistent must be true or false"),
])
def test_set_boot_order_with_values_of_the_wrong_type(tmp_path, extra, code, words):
    error = run("set_boot_order", json.dumps(dict(extra, driverParameters={})), tmp_path)
    assert error["code"] == code and words in error["message"], error


def test_input_nested_past_the_recursion_limit(tmp_path):
    error = run("power_on", "[" * 100000, tmp_path)
    assert error["code"] == "settingsError" and "not JSON" in error["message"], error


def test_a_boolean_persistent_is_still_accepted(tmp_path):
    assert run("set_boot_order", json.dumps({"driverParameters": {}, "bootDevice": "disk",
                                             "persistent": False}), tmp_path) is None


@pytest.mark.parametrize("name", [{"a": 1}, 7, ["web1"], "web1\nFAKE LOG LINE"])
def test_a_node_name_that_is_not_printable_text_is_refused(tmp_path, name):
    """nodeName names the node in every log line and error: an object was
    used as it came, and a newline in it could forge a log line."""
    error = run("power_query", json.dumps({"driverParameters": {}, "nodeName": name}),
                tmp_path)
    assert error["code"] == "settingsError" and "nodeName must be a string" in error[
        "message"], error


def test_a_node_name_is_still_taken(tmp_path):
    assert run("power_query", json.dumps({"driverParameters": {}, "nodeName": "web1"}),
               tmp_path) is None
