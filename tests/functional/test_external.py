"""The external driver against real executables (tests/fixtures/external_drivers.py).

A Python and a POSIX sh driver keep machine state in files, so every power
and boot-order call is checked by what the next call (or the file) sees.
The failure tests run drivers that print garbage, hang with a child (the
whole process group must be gone after the timeout), answer each error
code of the taxonomy, or are missing, unreadable or outside driver_paths.
"""

import json
import os
import time

import pytest

from hwdrivers.common import environment
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import actions
from hwdrivers.drivers import factory
from hwdrivers.drivers.modules import external
from hwdrivers.drivers.task import StandaloneTask


def make_task(info, **fields):
    return StandaloneTask.for_driver("external", driver_info=info, **fields)


def alive(pid):
    """True while ``pid`` runs (a zombie waiting for its reaper is dead)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def group_alive(pgid):
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


# -- power and boot order ------------------------------------------------------------

def test_python_driver_power_on_off_reboot(external_drivers):
    task = make_task(external_drivers.py_info("m1"))
    other = make_task(external_drivers.py_info("m2"))
    assert actions.get_power_state(task) == PowerState.OFF
    assert actions.set_power_state(task, "on") == PowerState.ON
    assert external_drivers.machines()["m1"]["power"] == "on"
    assert actions.get_power_state(other) == PowerState.OFF
    assert actions.set_power_state(task, "off") == PowerState.OFF
    assert external_drivers.machines()["m1"]["power"] == "off"
    assert actions.set_power_state(task, "reboot") == PowerState.ON
    ran = [c["argv"][1] for c in external_drivers.calls()]
    assert ran[-3:] == ["power_off", "power_query", "power_on"] or (
        ran[-4:-1] == ["power_off", "power_query", "power_on"])


def test_sh_driver_power(external_drivers):
    info = {"external_driver": "shdriver", "sh_host": "10.0.0.9", "outlet": "3",
            "sh_token": external_drivers.sh_token}
    task = make_task(info, management_interface="noop")
    other = make_task(dict(info, outlet=4), management_interface="noop")
    assert actions.validate(task)["power"]["result"] is True
    assert actions.set_power_state(task, "on") == PowerState.ON
    assert actions.get_power_state(other) == PowerState.OFF
    with open(os.path.join(external_drivers.dir, "sh-state-3")) as handle:
        assert handle.read().strip() == "on"
    assert actions.set_power_state(task, "reboot") == PowerState.ON
    assert actions.set_power_state(task, "off") == PowerState.OFF


def test_sh_driver_cannot_set_boot_order(external_drivers):
    info = {"external_driver": "shdriver", "sh_host": "10.0.0.9", "outlet": "3"}
    task = make_task(info)
    result = actions.validate(task)
    assert result["management"]["result"] is False
    assert "can_set_boot_order" in result["management"]["reason"]
    assert task.driver.management.get_supported_boot_devices(task) == []


def test_set_boot_order(external_drivers):
    task = make_task(external_drivers.py_info(
        "m1"), properties={"boot_mac": "52:54:00:12:34:56",
                           "root_device": {"serial": "S123"}})
    assert task.driver.management.get_supported_boot_devices(task) == ["pxe", "disk"]
    actions.set_boot_device(task, "pxe", persistent=True)
    assert external_drivers.machines()["m1"]["boot"] == [
        {"deviceType": "NetworkInterface", "properties": {"mac": "52:54:00:12:34:56"}},
        {"deviceType": "StorageDevice", "properties": {"serial": "S123"}}]
    actions.set_boot_device(task, "disk")
    assert external_drivers.machines()["m1"]["boot"][0]["deviceType"] == "StorageDevice"
    sent = json.loads(external_drivers.calls()[-1]["stdin"])
    assert sent["bootDevice"] == "disk" and sent["persistent"] is False
    assert actions.get_boot_device(task) == {"boot_device": None, "persistent": None}
    before = external_drivers.calls()
    with pytest.raises(exception.InvalidBootDevice, match="cdrom"):
        actions.set_boot_device(task, "cdrom")
    assert external_drivers.calls() == before  # refused before running anything


def test_probe(external_drivers):
    for machine in ("a", "b"):
        actions.set_power_state(make_task(external_drivers.py_info(machine)), "on")
    hosts = make_task(external_drivers.py_info("a")).driver.power.probe(
        make_task(external_drivers.py_info("a")))
    assert [h["hostname"] for h in hosts] == ["a", "b"]
    task = make_task({"external_driver": "shdriver", "sh_host": "10.0.0.1", "outlet": 1},
                     management_interface="noop")
    with pytest.raises(exception.DriverUnsupportedAction, match="can_probe"):
        task.driver.power.probe(task)


# -- secrets ---------------------------------------------------------------------------

def test_secrets_only_on_stdin(external_drivers):
    task = make_task(external_drivers.py_info("m1"))
    actions.set_power_state(task, "on")
    calls = external_drivers.calls()
    assert calls
    for call in calls:
        assert call["argv"][1:] in (["power_on"], ["power_query"])
        assert external_drivers.password not in json.dumps(call["argv"])
        assert external_drivers.password not in json.dumps(call["env"])
        assert sorted(call["env"]) == sorted(
            k for k in call["env"] if k in environment.KEPT or k in (
                "PWD", "SHLVL", "_", "LC_CTYPE"))
        assert json.loads(call["stdin"])["driverParameters"]["power_pass"] == (
            external_drivers.password)


def test_secrets_masked_by_the_executable_schema(external_drivers):
    info = external_drivers.py_info("m1")
    task = make_task(info)
    registry = factory.get_registry()
    assert "power_pass" in task.driver.schema.secret_names
    for masked in (registry.mask(info, task.driver), registry.mask(info)):
        assert masked["power_pass"] == "******"
        assert masked["machine"] == "m1"
    sh = {"external_driver": "shdriver", "sh_host": "10.0.0.1", "outlet": 1,
          "sh_token": external_drivers.sh_token}
    assert registry.mask(sh)["sh_token"] == "******"
    # A node moved to another hardware type still has its secrets masked.
    moved = StandaloneTask.for_driver("fake-hardware", driver_info=info)
    assert registry.mask(info, moved.driver)["power_pass"] == "******"
    # A schema that cannot be read masks every field but the executable's name.
    missing = {"external_driver": "nosuchdriver", "power_pass": "x", "other": "y"}
    assert registry.mask(missing) == {"external_driver": "nosuchdriver",
                                      "power_pass": "******", "other": "******"}


def test_driver_error_message_is_masked(external_drivers):
    task = make_task(external_drivers.py_info("fail-actionError"))
    with pytest.raises(exception.DriverActionError) as caught:
        actions.get_power_state(task)
    assert external_drivers.password not in str(caught.value)
    assert "******" in str(caught.value)


# -- the error taxonomy -------------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(exception.TAXONOMY))
def test_each_error_code(external_drivers, code):
    task = make_task(external_drivers.py_info("fail-%s" % code))
    with pytest.raises(exception.TAXONOMY[code]) as caught:
        actions.get_power_state(task)
    assert type(caught.value) is exception.TAXONOMY[code]
    assert caught.value.taxonomy == code
    assert "pydriver" in str(caught.value) and code in str(caught.value)


def test_unknown_error_code_is_fatal(external_drivers):
    task = make_task(external_drivers.py_info("fail-weirdError"))
    with pytest.raises(exception.DriverError, match="unknown error code 'weirdError'"):
        actions.get_power_state(task)


def test_wrong_password_is_auth_error(external_drivers):
    task = make_task(external_drivers.py_info("m1", power_pass="wrong-one"))
    with pytest.raises(exception.DriverAuthError, match="bad password"):
        actions.set_power_state(task, "on")


def test_connection_errors_are_retried(external_drivers, config):
    config(external__command_retry_timeout=0.5)
    task = make_task(external_drivers.py_info("fail-connError"))
    with pytest.raises(exception.DriverConnectionError, match="attempts"):
        actions.get_power_state(task)
    assert len(external_drivers.calls()) >= 2


# -- broken executables ----------------------------------------------------------------------

def test_garbage_on_stdout(external_drivers):
    info = {"external_driver": "garbage", "power_address": "10.1.1.1",
            "power_pass": external_drivers.password}
    task = make_task(info, management_interface="noop")
    with pytest.raises(exception.DriverActionError) as caught:
        actions.get_power_state(task)
    text = str(caught.value)
    assert external_drivers.paths["garbage"] in text
    assert "not JSON" in text and "exit status 3" in text and "oops" in text
    assert external_drivers.password not in text


def test_endless_output_is_cut_off_and_killed(external_drivers):
    """A driver that never stops printing fills neither memory nor the call's time."""
    from tests.fixtures.external_drivers import SIMPLE_SCHEMA
    external_drivers.add("flood", "#!/bin/sh\nif [ \"$1\" = schema ]; then echo '%s'; "
                         "exit 0; fi\nexec yes flooding-the-conductor\n"
                         % (SIMPLE_SCHEMA % "flood"))
    task = make_task({"external_driver": "flood", "power_address": "10.1.1.1"},
                     management_interface="noop")
    start = time.monotonic()
    with pytest.raises(exception.DriverActionError, match="printed more than") as caught:
        actions.get_power_state(task)
    assert time.monotonic() - start < 4.0
    assert "flooding" not in str(caught.value)


def test_driver_that_never_reads_a_large_input_times_out(external_drivers, config):
    """Big driver_info on stdin and a driver that ignores it: no deadlock."""
    from tests.fixtures.external_drivers import SIMPLE_SCHEMA
    config(external__timeout=1.0)
    external_drivers.add("deaf", "#!/bin/sh\nif [ \"$1\" = schema ]; then echo '%s'; "
                         "exit 0; fi\nexec sleep 30\n" % (SIMPLE_SCHEMA % "deaf"))
    task = make_task({"external_driver": "deaf", "power_address": "10.1.1.1",
                      "padding": "x" * 300000}, management_interface="noop")
    start = time.monotonic()
    with pytest.raises(exception.DriverConnectionError, match="within 1.0s"):
        actions.get_power_state(task)
    assert time.monotonic() - start < 4.0


def test_hang_is_killed_with_its_process_group(external_drivers, config):
    config(external__timeout=1.0)
    info = {"external_driver": "hang", "power_address": "10.1.1.1"}
    task = make_task(info, management_interface="noop")
    start = time.monotonic()
    with pytest.raises(exception.DriverConnectionError, match="within 1.0s"):
        actions.get_power_state(task)
    elapsed = time.monotonic() - start
    assert 0.9 <= elapsed < 4.0, elapsed
    leader, child = external_drivers.hang_pids()
    assert os.getpgid(os.getpid()) != leader
    deadline = time.monotonic() + 2
    while (alive(leader) or alive(child) or group_alive(leader)) and (
            time.monotonic() < deadline):
        time.sleep(0.05)
    assert not alive(leader) and not alive(child) and not group_alive(leader)
    try:
        os.killpg(leader, 0)
    except ProcessLookupError:
        pass  # the group is gone entirely
    else:
        # Only zombies are left, waiting for init to reap them (checked above).
        assert not group_alive(leader)


# -- nothing outlives a call -----------------------------------------------------------------

def running(marker):
    """Pids of live processes whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as handle:
                    cmdline = handle.read()
            except OSError:
                continue
            if marker.encode() in cmdline and alive(int(entry)):
                found.append(int(entry))
    return found


def escaper_task(mode):
    return make_task({"external_driver": "escaper", "power_address": "10.1.1.1",
                      "mode": mode}, management_interface="noop")


def assert_none_survive(external_drivers):
    """Right after the call: the four children are gone, by pid and by command line."""
    pids = external_drivers.read_pids("escaper")
    assert len(pids) == 4
    assert [pid for pid in pids if alive(pid)] == []
    assert running(external_drivers.paths["escaper"]) == []


def test_the_call_ends_when_the_driver_exits_not_at_eof(external_drivers, config):
    """A background child holding stdout open does not turn the answer into a timeout."""
    config(external__timeout=10.0)
    task = make_task({"external_driver": "linger", "power_address": "10.1.1.1"},
                     management_interface="noop")
    start = time.monotonic()
    assert actions.get_power_state(task) == PowerState.ON
    assert time.monotonic() - start < 5.0
    (child,) = external_drivers.read_pids("linger")
    assert not alive(child)


def test_children_that_left_the_session_die_after_an_answer(external_drivers, config):
    """setsid, setpgid, double-forked daemons, SIGTERM ignored: none outlives the call."""
    config(external__timeout=10.0)
    start = time.monotonic()
    assert actions.get_power_state(escaper_task("answer")) == PowerState.ON
    assert time.monotonic() - start < 8.0
    assert_none_survive(external_drivers)


def test_children_that_left_the_session_die_on_timeout(external_drivers, config):
    config(external__timeout=4.0)
    with pytest.raises(exception.DriverConnectionError, match="within 4.0s"):
        actions.get_power_state(escaper_task("hang"))
    assert_none_survive(external_drivers)


def test_children_that_left_the_session_die_when_output_is_cut_off(external_drivers,
                                                                    config):
    config(external__timeout=10.0)
    with pytest.raises(exception.DriverActionError, match="printed more than"):
        actions.get_power_state(escaper_task("flood"))
    assert_none_survive(external_drivers)


# -- deadlines ---------------------------------------------------------------------------------

def test_a_hanging_driver_ends_within_retry_timeout_plus_one_timeout(external_drivers,
                                                                     config):
    """The deadline rule: one operation ends within command_retry_timeout + timeout."""
    config(external__timeout=1.0, external__command_retry_timeout=2.0)
    task = make_task({"external_driver": "hang", "power_address": "10.1.1.1"},
                     management_interface="noop")
    for act in (actions.get_power_state,
                lambda t: actions.set_power_state(t, "on"),
                lambda t: actions.set_power_state(t, "reboot")):
        start = time.monotonic()
        with pytest.raises(exception.DriverConnectionError, match="within 1.0s"):
            act(task)
        assert time.monotonic() - start < 2.0 + 1.0 + 2.0  # generous: a loaded machine


def test_a_schema_read_that_timed_out_is_not_waited_for_twice(external_drivers, config):
    """Controller key, validation and the attempt do not each wait a whole timeout."""
    config(external__timeout=3.0, external__command_retry_timeout=0.0)
    task = make_task({"external_driver": "hangall", "power_address": "10.1.1.1"},
                     management_interface="noop")
    start = time.monotonic()
    with pytest.raises(exception.DriverConnectionError, match="within 3.0s"):
        actions.get_power_state(task)
    assert time.monotonic() - start < 3.0 + 1.5  # one timeout, not two
    with open(os.path.join(external_drivers.dir, "hangall.runs")) as handle:
        assert handle.read().split() == ["schema"]


def test_a_broken_schema_is_not_run_again_for_every_node(external_drivers, config):
    """A listing masks each node with the schema: a driver printing garbage is
    run once per [external] timeout, not once per node, and again once the
    file changes (an upgrade) or the window ends."""
    config(external__timeout=2.0)
    runs = os.path.join(external_drivers.dir, "garbled.runs")
    script = "#!/bin/sh\necho \"$1\" >> %s\necho 'not json'\n" % runs
    external_drivers.add("garbled", script)
    registry = factory.get_registry()
    info = {"external_driver": "garbled", "token": "t0ps3cret"}
    for _ in range(20):
        assert registry.mask(info) == {"external_driver": "garbled", "token": "******"}
    with pytest.raises(exception.DriverActionError, match="not a usable schema") as first:
        external.load_schema(os.path.join(external_drivers.dir, "garbled"))
    assert "ago; not run again for" in str(first.value)
    with open(runs) as handle:
        assert handle.read().split() == ["schema"]
    # A fixed version of the file is read at once.
    fixed = '{"fields": [{"name": "token", "field_type": "string"}]}'
    external_drivers.add("garbled", script.replace("not json", fixed) + "#\n")
    assert registry.mask(info) == {"external_driver": "garbled", "token": "t0ps3cret"}
    with open(runs) as handle:
        assert handle.read().split() == ["schema", "schema"]


def test_a_hanging_driver_through_the_conductor_records_its_error_in_time(
        external_drivers, config, sqlite_database):
    from hwdrivers.common import context as hw_context
    from hwdrivers.conductor import manager as manager_mod
    config(external__timeout=1.0, external__command_retry_timeout=2.0)
    ctx = hw_context.get_admin_context()
    mgr = manager_mod.ConductorManager()
    mgr.create_node(ctx, {"driver": "external", "name": "hung",
                          "management_interface": "noop",
                          "driver_info": {"external_driver": "hang",
                                          "power_address": "10.1.1.1"}})
    start = time.monotonic()
    with pytest.raises(exception.DriverConnectionError):
        mgr.change_power_state(ctx, "hung", "power on")
    assert time.monotonic() - start < 2.0 + 1.0 + 2.0  # generous: a loaded machine
    node = mgr.get_node(ctx, "hung")
    assert "did not answer power_on within 1.0s" in node.last_error
    assert node.target_power_state is None


def test_a_driver_that_cannot_start_is_tool_missing(external_drivers):
    external_drivers.add("badshebang", "#!/nonexistent/interpreter\n")
    with pytest.raises(exception.DriverToolMissing, match="cannot be started"):
        external.run(os.path.join(external_drivers.dir, "badshebang"), "schema")


@pytest.mark.parametrize("name, error, words", [
    ("nosuchdriver", exception.DriverToolMissing, ["not found", "driver_paths"]),
    ("noexec", exception.DriverToolMissing, ["not executable", "chmod +x"]),
    ("/usr/bin/true", exception.DriverSettingsError, ["outside", "driver_paths"]),
    ("rel/driver", exception.DriverSettingsError, ["absolute"]),
    ("badschema", exception.DriverActionError, ["badschema", "hologram"]),
])
def test_unusable_executables(external_drivers, name, error, words):
    task = make_task({"external_driver": name, "power_address": "10.0.0.1"})
    with pytest.raises(error) as caught:
        task.driver.power.validate(task)
    for word in words:
        assert word in str(caught.value)
    result = actions.validate(task)
    assert result["power"]["result"] is False


def test_absolute_path_inside_driver_paths(external_drivers):
    info = dict(external_drivers.py_info("m1"),
                external_driver=external_drivers.paths["pydriver"])
    task = make_task(info)
    assert actions.set_power_state(task, "on") == PowerState.ON
    escape = os.path.join(external_drivers.dir, "..", "..", "bin", "sh")
    task = make_task(dict(info, external_driver=escape))
    with pytest.raises(exception.DriverSettingsError, match="outside"):
        task.driver.power.validate(task)


# -- validation by the executable's schema -------------------------------------------------------

def test_validation_lists_every_field(external_drivers):
    task = make_task({"external_driver": "pydriver", "power_address": "not an address!"})
    with pytest.raises(exception.InvalidParameterValue) as caught:
        task.driver.power.validate(task)
    text = str(caught.value)
    assert "power_pass" in text and "machine" in text and "power_address" in text
    assert external_drivers.calls() == []
    task = make_task(external_drivers.py_info("m1", retries="many"))
    with pytest.raises(exception.InvalidParameterValue, match="retries"):
        task.driver.power.validate(task)
    typo = make_task(dict(external_drivers.py_info("m1"), power_pas="x"))
    assert "did you mean power_pass" in actions.validate(typo)["power"]["reason"]


def test_parameters_sent_are_typed_and_declared_only(external_drivers):
    info = dict(external_drivers.py_info("m1"), retries="3", unrelated="x")
    actions.get_power_state(make_task(info))
    sent = json.loads(external_drivers.calls()[-1]["stdin"])["driverParameters"]
    assert sent == {"power_address": "127.0.0.1", "power_user": "admin",
                    "power_pass": external_drivers.password, "machine": "m1",
                    "retries": 3}


def test_schema_read_once_and_again_when_the_file_changes(external_drivers, monkeypatch):
    runs = []
    real_run = external.run

    def counting(path, action, *args, **kwargs):
        runs.append(action)
        return real_run(path, action, *args, **kwargs)

    monkeypatch.setattr(external, "run", counting)
    task = make_task(external_drivers.py_info("m1"))
    for _ in range(3):
        actions.get_power_state(task)
    assert runs.count("schema") == 1 and runs.count("power_query") == 3
    path = external_drivers.paths["pydriver"]
    with open(path) as handle:
        text = handle.read()
    external_drivers.add("pydriver", text.replace('"Example Python driver"',
                                                  '"Example Python driver, v2"'))
    actions.get_power_state(task)
    assert runs.count("schema") == 2


def test_controller_keys(external_drivers):
    task = make_task(external_drivers.py_info("m1"))
    assert task.driver.power.controller_key(task) == "external:pydriver:127.0.0.1"
    assert task.driver.management.controller_key(task) == "external:pydriver:127.0.0.1"
    sh = make_task({"external_driver": "shdriver", "sh_host": "10.0.0.7", "outlet": 1})
    assert sh.driver.power.controller_key(sh) == "external:shdriver:10.0.0.7"
    broken = make_task({"external_driver": "nosuchdriver"})
    assert broken.driver.power.controller_key(broken) == (
        "external:nosuchdriver:node-%s" % broken.node.uuid)


def test_properties_and_conductor_validation(external_drivers):
    registry = factory.get_registry()
    props = registry.properties("external")
    assert list(props["power"]) == ["external_driver"]
    from hwdrivers.conductor import manager
    mgr = manager.ConductorManager(registry=registry)
    with pytest.raises(exception.InvalidParameterValue, match="power_address"):
        mgr._check_values({"driver": "external", "driver_info": {
            "external_driver": "pydriver", "power_address": "bad address!"}})
    mgr._check_values({"driver": "external", "driver_info": external_drivers.py_info()})


def test_through_the_conductor(external_drivers, sqlite_database):
    from hwdrivers.common import context as hw_context
    from hwdrivers.conductor import manager as manager_mod
    ctx = hw_context.get_admin_context()
    mgr = manager_mod.ConductorManager()
    node = mgr.create_node(ctx, {"driver": "external", "name": "ext1",
                                 "driver_info": external_drivers.py_info("c1")})
    view = mgr.node_view(mgr.get_node(ctx, "ext1"))
    assert view["driver_info"]["power_pass"] == "******"
    assert external_drivers.password not in repr(view)
    assert mgr.change_power_state(ctx, "ext1", "power on") == PowerState.ON
    assert external_drivers.machines()["c1"]["power"] == "on"
    mgr.set_boot_device(ctx, "ext1", "pxe")
    assert external_drivers.machines()["c1"]["boot"][0]["deviceType"] == "NetworkInterface"
    with pytest.raises(exception.InvalidParameterValue, match="power_address"):
        mgr.update_node(ctx, "ext1", {"driver_info/power_address": "bad address!"})
    assert mgr.get_node(ctx, node.uuid).driver_info["power_address"] == "127.0.0.1"


def test_sh_driver_reports_unsupported_actions(external_drivers):
    with pytest.raises(exception.DriverUnsupportedAction, match="no set_boot_order"):
        external.call(external_drivers.paths["shdriver"], "set_boot_order",
                      {"sh_host": "10.0.0.1", "outlet": 1})
