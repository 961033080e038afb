"""Error paths of the external driver and the powerdriver, with stand-ins for processes."""

import io
import json
import os
import subprocess
import sys

import pytest

from hwdrivers.cmd import powerdriver
from hwdrivers.common import exception
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import external

PATH = "/usr/lib/hwdrivers/external/drv"


@pytest.fixture
def answers(monkeypatch):
    """Make ``external.run`` return (stdout, stderr, status) and record payloads."""
    sent = []

    def set_answer(stdout, stderr=b"", status=0):
        def fake_run(path, action, payload=None, timeout=None, secrets=()):
            sent.append((path, action, payload))
            out = stdout if isinstance(stdout, bytes) else json.dumps(stdout).encode()
            return out, stderr, status
        monkeypatch.setattr(external, "run", fake_run)
        return sent
    return set_answer


# -- answers ----------------------------------------------------------------------

@pytest.mark.parametrize("stdout, words", [
    (b"\xff\xfe", ["not JSON"]),
    (b"", ["not JSON"]),
    (b"[1, 2]", ["not a JSON object"]),
    ({"action_type": "power_off", "error": None}, ["action_type is 'power_off'"]),
    ({"action_type": "power_on", "error": "boom"}, ["error must be null"]),
    ({"action_type": "power_on", "error": {"message": "no code"}}, ["error must be null"]),
    ({"action_type": "power_on", "error": None, "data": [1]}, ["data must be a JSON object"]),
])
def test_garbage_answers(answers, stdout, words):
    answers(stdout, stderr=b"detail with S3cret inside")
    with pytest.raises(exception.DriverActionError) as caught:
        external.call(PATH, "power_on", {"pw": "S3cret"}, secrets=["S3cret"])
    text = str(caught.value)
    assert PATH in text and "power_on" in text
    for word in words:
        assert word in text
    assert "S3cret" not in text and "detail with ******" in text


def test_failed_exit_without_error_is_garbage(answers):
    answers({"action_type": "power_on", "error": None}, status=4)
    with pytest.raises(exception.DriverActionError, match="exit status 4"):
        external.call(PATH, "power_on", {})


def test_error_exit_with_error_uses_the_code(answers):
    answers({"action_type": "power_on", "error": {"code": "toolError", "message": "m"}},
            status=1)
    with pytest.raises(exception.DriverToolMissing, match="toolError"):
        external.call(PATH, "power_on", {})


def test_payload_carries_extra_and_parameters(answers):
    sent = answers({"action_type": "set_boot_order", "error": None})
    assert external.call(PATH, "set_boot_order", {"a": 1}, extra={"devices": []}) == {}
    assert sent == [(PATH, "set_boot_order", {"devices": [], "driverParameters": {"a": 1}})]


# -- running ----------------------------------------------------------------------------

def test_start_failure_is_tool_missing(monkeypatch, config):
    def refuse(*args, **kwargs):
        raise OSError(8, "Exec format error")
    monkeypatch.setattr(subprocess, "Popen", refuse)
    with pytest.raises(exception.DriverToolMissing, match="Exec format error"):
        external.run(PATH, "schema")


def test_argv_and_environment(monkeypatch, tmp_path):
    """A real child: argv is [exe, action], secrets only on stdin, env pruned."""
    record = tmp_path / "seen.json"
    exe = tmp_path / "recorder"
    exe.write_text(
        "#!%s\nimport json, os, sys\n"
        "json.dump({'argv': sys.argv, 'env': sorted(os.environ), 'stdin': sys.stdin.read(),"
        " 'pgid': os.getpgid(0), 'sid': os.getsid(0)}, open(%r, 'w'))\n"
        "print('{}')\n" % (sys.executable, str(record)))
    exe.chmod(0o755)
    monkeypatch.setenv("OS_PASSWORD", "conductor-secret")
    stdout, _, returncode = external.run(str(exe), "power_on",
                                         {"driverParameters": {"pw": "x"}})
    assert (stdout, returncode) == (b"{}\n", 0)
    seen = json.loads(record.read_text())
    assert seen["argv"] == [str(exe), "power_on"]
    # Not in our session: the supervisor between us is a session of its own.
    assert seen["sid"] != os.getsid(0) and seen["pgid"] != os.getpgid(0)
    assert "OS_PASSWORD" not in seen["env"]
    assert json.loads(seen["stdin"]) == {"driverParameters": {"pw": "x"}}


# -- schemas ------------------------------------------------------------------------------

@pytest.mark.parametrize("doc, words", [
    ([], ["JSON object"]),
    ({"fields": {}}, ["fields must be a list"]),
    ({"fields": ["x"]}, ["must be an object"]),
    ({"fields": [{"name": "external_driver"}]}, ["not allowed"]),
    ({"fields": [{"name": "a b"}]}, ["not allowed"]),
    ({"fields": [{"name": "a", "field_type": "hologram"}]}, ["unknown type 'hologram'"]),
    ({"fields": [{"name": "a"}, {"name": "a"}]}, ["declared twice: a"]),
    ({"fields": [{"name": "a", "type": "int", "default": "x"}]}, ["field a", "integer"]),
    ({"fields": [{"name": "a", "field_type": "choice"}]}, ["choices"]),
])
def test_bad_schemas(doc, words):
    with pytest.raises(ValueError) as caught:
        external.DriverSchema(PATH, doc)
    for word in words:
        assert word in str(caught.value)


def test_schema_types_and_flags():
    schema = external.DriverSchema(PATH, json.dumps({
        "name": "x", "can_set_boot_order": True,
        "ip_extractor": {"field_name": "power_address",
                         "pattern": r"^qemu\+ssh://[^@]*@(?P<address>[^/]+)/"},
        "fields": [
            {"name": "power_address", "field_type": "virsh_address", "required": True,
             "default": ""},
            {"name": "power_pass", "field_type": "password"},
            {"name": "mode", "field_type": "choice", "choices": [["a", "A"], ["b", "B"]],
             "default": "b"},
            {"name": "port", "type": "port", "default": "623"},
        ]}))
    assert schema.can_set_boot_order and not schema.can_probe
    assert schema.schema.secret_names == {"power_pass"}
    assert schema.schema["mode"].choices == ("a", "b")
    assert schema.schema["port"].default == 623
    assert not schema.schema["power_address"].default
    assert schema.target({"power_address": "qemu+ssh://u@10.9.8.7/system"}) == "10.9.8.7"
    assert schema.target({"power_address": "plain"}) == "plain"
    assert schema.target({}) is None


def test_unreadable_schema_names_executable(answers, tmp_path, config):
    exe = tmp_path / "drv"
    exe.write_text("")
    answers(b"not a schema", stderr=b"")
    with pytest.raises(exception.DriverActionError, match="drv.*schema"):
        external.load_schema(str(exe))
    with pytest.raises(exception.DriverToolMissing, match="cannot be read"):
        external.load_schema(str(tmp_path / "gone"))


# -- resolving ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, error, words", [
    (None, exception.DriverSettingsError, ["must name"]),
    ("  ", exception.DriverSettingsError, ["must name"]),
    ("..", exception.DriverSettingsError, ["not a file name"]),
    ("/etc/passwd", exception.DriverSettingsError, ["outside"]),
    ("/usr/lib/hwdrivers/external/../../../bin/sh", exception.DriverSettingsError,
     ["outside"]),
    ("absent", exception.DriverToolMissing, ["not found"]),
])
def test_resolve_refuses(config, name, error, words):
    with pytest.raises(error) as caught:
        external.resolve(name)
    for word in words:
        assert word in str(caught.value)


def test_schema_for_without_driver_or_unreadable(config):
    power = external.ExternalPower()
    assert power.driver_info_schema_for({}) is external.BASE_SCHEMA
    schema = power.driver_info_schema_for({"external_driver": "absent", "k": "v"})
    assert schema.secret_names == {"k"}
    assert params.Schema.mask(schema, {"external_driver": "absent", "k": "v"})["k"] == (
        params.MASK)


# -- powerdriver pieces ----------------------------------------------------------------------

@pytest.mark.parametrize("document, expected", [
    ({"bootDevice": "disk", "devices": []}, "disk"),
    ({"devices": [{"deviceType": "NetworkInterface", "properties": {"mac": "x"}}]}, "pxe"),
    ({"devices": [{"deviceType": "StorageDevice", "properties": {}}]}, "disk"),
])
def test_powerdriver_boot_device(document, expected):
    assert powerdriver._boot_device(document) == expected


@pytest.mark.parametrize("document, code", [
    ({}, "settingsError"), ({"devices": []}, "settingsError"),
    ({"devices": ["x"]}, "fatalError"), ({"devices": [{"deviceType": "Tape"}]}, "fatalError"),
])
def test_powerdriver_bad_devices(document, code):
    with pytest.raises(powerdriver.ProtocolError) as caught:
        powerdriver._boot_device(document)
    assert caught.value.code == code


@pytest.mark.parametrize("exc, code", [
    (exception.DriverAuthError("x"), "authError"),
    (exception.DriverConnectionError("x"), "connError"),
    (exception.MissingParameterValue("x"), "settingsError"),
    (exception.UnsupportedDriverExtension(node="n", interface="i", implementation="m",
                                          action="a"), "unsupportedActionError"),
    (exception.PowerStateFailure(node="n", state="s", reason="r"), "actionError"),
    (exception.ConfigInvalid("x"), "settingsError"),
    (exception.NodeLocked(node="n", holder="h"), "fatalError"),
])
def test_powerdriver_codes(exc, code):
    assert powerdriver._code(exc) == code


def test_powerdriver_unexpected_exception_is_fatal(monkeypatch, config):
    def explode(*args):
        raise RuntimeError("kaboom")
    monkeypatch.setattr(powerdriver, "act", explode)
    result = powerdriver.answer("fake-hardware", "power_on",
                                io.StringIO('{"driverParameters": {}}'))
    assert result["error"] == {"code": "fatalError", "message": "RuntimeError: kaboom"}
