"""Unit tests of the command driver: templates, profiles, validation, error mapping.

No sshd here (tests/functional/test_command.py has it): ssh's failures are
fed in as the (exit code, stderr) ssh really prints, and the process
runner is replaced where a test needs a failure that cannot be staged
(a missing binary, a timeout). Every refusal must name the field (or the
profile's group and option) and the fix, list every problem at once, and
run nothing. The shell-syntax rules are checked against the real shells
(dash and bash) the commands run under.
"""

import getpass
import os
import shlex
import shutil
import subprocess
import tempfile
import time

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import command_profile
from hwdrivers.drivers import factory
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import command
from hwdrivers.drivers.modules import command_settings
from hwdrivers.drivers.modules import shell_template
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask

CONF = hw_conf.CONF
SECRET = "Unit-Secret-5150"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHELLS = [sh for sh in ("dash", "bash") if shutil.which(sh)]


@pytest.fixture(autouse=True)
def command_config(config):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__allow_local_commands=True)
    return config


@pytest.fixture
def no_process(monkeypatch):
    """Fail the test if anything tries to run a process."""
    def refuse(*args, **kwargs):
        raise AssertionError("a process was started: %r" % (args,))
    monkeypatch.setattr(ssh, "run_process", refuse)


def define(name="hv", **values):
    values.setdefault("power_on", "echo on {vm}")
    values.setdefault("power_off", "echo off {vm}")
    values = {k: v for k, v in values.items() if v is not None}
    command_profile.register_profile(CONF, name, **values)


def profile_task(name="vm1", profile="hv", **driver_info):
    info = {"command_profile": profile, "vm": "web1"}
    info.update(driver_info)
    info = {k: v for k, v in info.items() if v is not None}
    return StandaloneTask.for_driver("command", driver_info=info, name=name)


@pytest.fixture
def inline(command_config):
    """Node templates allowed: the operator's opt-in."""
    command_config(command__allow_node_templates=True)


def make_task(name="vm1", **driver_info):
    """A node with inline templates (needs the ``inline`` fixture to be usable)."""
    info = {"command_power_on": "echo on", "command_power_off": "echo off"}
    info.update(driver_info)
    info = {k: v for k, v in info.items() if v is not None}
    return StandaloneTask.for_driver("command", driver_info=info, name=name)


def refusal(task):
    with pytest.raises(exception.InvalidParameterValue) as err:
        task.driver.power.validate(task)
    return err.value


def config_file(tmp_path, text):
    path = tmp_path / "hwdrivers.conf"
    path.write_text(text)
    CONF(["--config-file", str(path)], project="hwdrivers", default_config_files=[])
    factory.reset()
    return path


def start_up_error():
    """What loading the drivers (the service's start) says about the config."""
    with pytest.raises(exception.ConfigInvalid) as err:
        factory.get_registry()
    return err.value


# -- templates -----------------------------------------------------------------------

@pytest.mark.parametrize("template, names", [
    ("virsh start {vm}", ["vm"]),
    ("echo {name} {uuid} {name}", ["name", "uuid", "name"]),
    ('test "$(cat {state_file})" = on', ["state_file"]),  # $(...) parses words again
    ("echo $( (echo {a}) ) 'quoted' {b}", ["a", "b"]),
    ("echo 'x'{a} \"y\" {b}", ["a", "b"]),
    ("cat <<< {a}", ["a"]),
    ("echo {{literal}} ${{HOME}} {a}", ["a"]),
    ('echo "\\\\" {a}', ["a"]),  # an escaped backslash closes nothing
    ("echo done", []),
    # '#' that starts no comment: inside a word, quoted, escaped, a parameter length
    ("virsh start {vm} # the rest is a comment", ["vm"]),
    ("echo a#b {vm}", ["vm"]),
    ("echo {vm}#tag {vm}", ["vm", "vm"]),
    ("x=abc; echo ${{#x}} {vm}", ["vm"]),
    ("echo $# {vm}", ["vm"]),
    ("echo $(echo a)#b {vm}", ["vm"]),
    ("echo $((16#ff)) {vm}", ["vm"]),
    ("echo '#' \"#\" \\# {vm}", ["vm"]),
    ("echo ${{x:- #not-a-comment}} {vm}", ["vm"]),
    ("# a comment line\nvirsh start {vm}", ["vm"]),
    ("echo $(# a comment\necho {vm})", ["vm"]),
])
def test_placeholders_accepted(template, names):
    assert shell_template.placeholders(template) == names


@pytest.mark.parametrize("template, fragment", [
    ("echo '{name}'", "inside single quotes"),
    ('echo "{name}"', "inside double quotes"),
    ("echo \"$(echo \"{name}\")\"", "inside double quotes"),
    ("echo $'{name}'", "inside single quotes"),
    ("echo `cat {name}`", "inside backticks: write $(...)"),
    ("echo \\{name}", "backslash right before {name}"),
    ("echo ${name}", "puts $ right before {name}"),
    ("cat <<EOF\n{name}\nEOF", "here-document"),
    ("echo {name!r}", "use a bare {field_name}"),
    ("echo {name:>9}", "use a bare {field_name}"),
    ("echo {a.b}", "use a bare {field_name}"),
    ("echo {a[0]}", "use a bare {field_name}"),
    ("echo {}", "use a bare {field_name}"),
    ("echo {name", "write literal braces as {{ and }}"),
    ("echo }", "write literal braces as {{ and }}"),
    ("echo ${{x:-{name}}}", "inside ${...}"),
    ('echo "${{x:-\'}}" {name}', "bash and dash read differently"),
    # after a '#' that starts a comment
    ("true # vm {vm}", "{vm} after a # that starts a shell comment"),
    ("#{vm}", "after a #"),
    ("true;# {vm}", "after a #"),
    ("true&# {vm}", "after a #"),
    ("true|# {vm}", "after a #"),
    ("(true)# {vm}", "after a #"),
    ("true >#x {vm}", "after a #"),
    ("true\t# {vm}", "after a #"),
    ("echo {vm} # {vm}", "after a #"),
    ('echo "$(true # {vm}\n)"', "after a #"),
])
def test_placeholders_refused(template, fragment):
    with pytest.raises(ValueError) as err:
        shell_template.placeholders(template)
    assert fragment in str(err.value)


@pytest.mark.parametrize("value", [
    "x; touch /tmp/p", "$(id)", "`id`", "a'b", 'a"b', "a\nb", "-rf", "", "a\\", "{x}",
    "it's \"$HOME\" `x` $(y) \\ ; | & > <", "x\ntouch /tmp/p #",
])
def test_render_makes_each_value_one_word(value):
    rendered = shell_template.render("tool --vm {vm} --then {vm} end", {"vm": value})
    assert shlex.split(rendered) == ["tool", "--vm", value, "--then", value, "end"]
    assert subprocess.run(["sh", "-c", "printf %s " + shell_template.render("{v}", {"v": value})],
                          capture_output=True, text=True, check=True).stdout == value


COMMENT_TEMPLATES = [
    "true # vm {vm}", "true;# {vm}", "true|# {vm}", "(true)# {vm}", "true\t# {vm}",
    "#{vm}", 'echo "$(true # {vm}\n)"',
]
ACCEPTED_HASH_TEMPLATES = [
    "true {vm} # comment", "true a#b {vm}", "true {vm}#x", "x=ab; true ${{#x}} {vm}",
    "true $(echo a)#b {vm}", "true '#' {vm}", "true \\# {vm}", "true $((16#ff)) {vm}",
    "true ${{x:- #y}} {vm}", "# comment\ntrue {vm}", "true $(# c\ntrue {vm})",
]


@pytest.mark.skipif(not SHELLS, reason="neither dash nor bash is installed")
@pytest.mark.parametrize("shell", SHELLS)
def test_the_comment_rule_is_the_shells_rule(shell, tmp_path):
    """Refused templates really are exploitable; accepted ones really are not.

    The issue's payload, a value that ends the comment with a line break,
    runs ``touch`` through every refused template (rendered bypassing the
    check) and through none of the accepted ones, in dash and in bash.
    """
    def runs_touch(template):
        target = tmp_path / "pwned"
        value = "x\ntouch %s #" % target
        subprocess.run([shell, "-c", shell_template.render(template, {"vm": value})],
                       capture_output=True, timeout=10)
        hit = target.exists()
        if hit:
            target.unlink()
        return hit

    for template in COMMENT_TEMPLATES:
        with pytest.raises(ValueError, match="after a #"):
            shell_template.placeholders(template)
        assert runs_touch(template), template  # the refusal is not spurious
    for template in ACCEPTED_HASH_TEMPLATES:
        assert shell_template.placeholders(template) == ["vm"], template
        assert not runs_touch(template), template


def test_the_comment_exploit_through_the_driver(inline, tmp_path):
    """The issue's case end to end, local: refused at validation, nothing runs."""
    pwned = tmp_path / "P"
    task = make_task(command_power_on="true # vm {vm}", vm="x\ntouch %s #" % pwned)
    err = refusal(task)
    assert "field command_power_on puts {vm} after a # that starts a shell comment" in str(err)
    with pytest.raises(exception.InvalidParameterValue):
        task.driver.power.set_power_state(task, PowerState.ON)
    assert not pwned.exists()


# -- profiles: defined by the operator, checked at start-up -----------------------------

LIBVIRT = """
[command]
allow_local_commands = true

[command_profile:libvirt]
power_on = virsh start {vm}
power_off = virsh destroy {vm}
power_status = virsh domstate {vm}
status_on_pattern = ^running$
status_off_pattern = shut off|crashed
host = hv1.example.net
user = ops
timeout = 12

[command_profile:relay]
power_on = relay --board {board} --port {port_no} on
power_off = relay --board {board} --port {port_no} off
reboot = relay --board {board} --port {port_no} cycle # logs as {{name}}
"""


def test_profiles_are_read_from_the_config_file(tmp_path, no_process):
    config_file(tmp_path, LIBVIRT)
    factory.get_registry()  # start-up checks every profile
    assert command_profile.profile_names(CONF) == ["libvirt", "relay"]
    libvirt = command_settings.load_profile("libvirt")
    assert libvirt.placeholders == ("vm",)
    assert libvirt.fields["command_power_on"] == "virsh start {vm}"
    assert libvirt.fields["command_host"] == "hv1.example.net"
    assert libvirt.fields["command_port"] == 22 and libvirt.fields["command_timeout"] == 12
    assert command_settings.load_profile("relay").placeholders == ("board", "port_no")

    task = profile_task(profile="libvirt", vm="web1")
    info = task.driver.power.parse_driver_info(task)
    assert info.values == {"vm": "web1", "name": "vm1", "uuid": task.node.uuid}
    assert info.timeout == 12 and info.profile == "libvirt"
    assert task.driver.power.controller_key(task) == "ssh:ops@hv1.example.net:22"
    relay = profile_task(profile="relay", vm=None, board="b1", port_no=3)
    relay.driver.power.validate(relay)
    assert relay.driver.power.controller_key(relay) == "local"


def test_a_node_declares_its_profiles_placeholders(tmp_path, no_process):
    """Validation, properties and masking follow the profile the node selects."""
    config_file(tmp_path, LIBVIRT)
    task = profile_task(profile="relay", vm=None, board="b1", port_no=3,
                        command_secret=SECRET)
    schema = task.driver.schema
    assert sorted(p.name for p in schema) == ["board", "command_profile", "command_secret",
                                              "port_no"]
    assert schema["board"].required and schema["board"].type == "str"
    assert "Value of {board} in the commands of command profile relay" in (
        schema["board"].description)
    assert schema.undeclared(task.node.driver_info) == {}  # every key is declared
    assert factory.get_registry().mask(task.node.driver_info, task.driver) == {
        "command_profile": "relay", "board": "b1", "port_no": 3,
        "command_secret": params.MASK}

    missing = profile_task(profile="relay", vm=None, board="b1")
    with pytest.raises(exception.MissingParameterValue) as err:
        missing.driver.power.validate(missing)
    assert "port_no (Value of {port_no}" in str(err.value)
    # A key the profile does not use is undeclared (refused at enrolment).
    stray = profile_task(profile="relay", board="b1", port_no=3)
    assert list(stray.driver.schema.undeclared(stray.node.driver_info)) == ["vm"]


def test_unknown_profile_lists_the_defined_ones(tmp_path, no_process):
    config_file(tmp_path, LIBVIRT)
    task = profile_task(profile="libvrt")
    message = str(refusal(task))
    assert "command_profile" in message and "names no command profile" in message
    assert "defined in the conductor's configuration: libvirt, relay" in message
    # The same check refuses it at enrolment (the manager checks schema errors).
    _, invalid = task.driver.schema.errors(task.node.driver_info)
    assert any("libvirt, relay" in problem for problem in invalid)


def test_profile_and_inline_fields_do_not_mix(no_process, inline):
    define()
    message = str(refusal(profile_task(command_power_on="id", command_host="192.0.2.1")))
    assert "command_power_on, command_host cannot be set with command_profile" in message
    assert "unset them" in message


def test_node_values_that_no_command_line_can_carry(no_process):
    define()
    err = refusal(profile_task(vm="a\0b", command_secret="line1\nline2"))
    assert "vm" in str(err) and "NUL byte" in str(err)
    assert "a\0b" not in str(err)
    err = refusal(profile_task(command_secret="line1\nline2"))
    assert "command_secret holds a line break" in str(err) and "line1" not in str(err)


def test_no_profile_and_no_templates_names_command_profile(no_process):
    define("pdu1")
    task = StandaloneTask.for_driver("command", driver_info={})
    with pytest.raises(exception.MissingParameterValue) as err:
        task.driver.power.validate(task)
    assert "missing required driver_info field command_profile" in str(err.value)
    assert "(defined: pdu1)" in str(err.value)


PROFILE_ERRORS = [
    ({"power_on": None}, "power_on", "is required"),
    ({"power_off": "   "}, "power_off", "is required"),
    ({"power_on": "start '{vm}'"}, "power_on", "puts {vm} inside single quotes"),
    ({"power_on": "true # {vm}"}, "power_on", "after a # that starts a shell comment"),
    ({"reboot": "cycle {command_secret}"}, "reboot", "names the secret {command_secret}"),
    ({"power_status": "stat {command_host}"}, "power_status",
     "names starting with command_ are the driver's own fields"),
    ({"power_on": "start {vm!r}"}, "power_on", "use a bare {field_name}"),
    ({"status_on_pattern": "(unclosed", "power_status": "st"}, "status_on_pattern",
     "not a valid regular expression"),
    ({"status_on_exit_code": 0}, "status_on_exit_code", "needs power_status"),
    ({"status_on_exit_code": 0, "status_off_pattern": "x", "power_status": "st"},
     "status_on_exit_code", "exclude each other"),
    ({"status_off_exit_code": 1, "power_status": "st"}, "status_off_exit_code",
     "needs status_on_exit_code"),
    ({"port": 2222}, "port", "only apply with host"),
    ({"host": "-oProxyCommand=id"}, "host", "must be an IP address or host name"),
    ({"host": "192.0.2.1", "user": "root; id"}, "user", "must be letters, digits"),
    ({"host": "192.0.2.1", "ssh_key": "/no/such/key"}, "ssh_key", "no file /no/such/key"),
    ({"host": "192.0.2.1", "known_hosts": "rel/kh"}, "known_hosts",
     "must be an absolute path"),
    ({"power_on": "start {vm} $HOME"}, "power_on",
     "refers to $HOME, which is not an option: oslo.config reads $name"),
    ({"reboot_delay": 8, "timeout": 8}, "reboot_delay",
     "reboot_delay (8.0s) is not shorter than the timeout (8.0s)"),
]


@pytest.mark.parametrize("values, option, fragment", PROFILE_ERRORS)
def test_bad_profiles_stop_start_up(values, option, fragment):
    define("bad", **values)
    err = start_up_error()
    assert err.option == "[command_profile:bad] %s" % option
    assert str(err).startswith("[command_profile:bad] %s" % option)
    assert fragment in str(err), str(err)


def test_local_profile_needs_allow_local_commands(command_config):
    command_config(command__allow_local_commands=False)
    define()
    err = start_up_error()
    assert err.option == "[command_profile:hv] host"
    assert "set host in [command_profile:hv], or set [command] allow_local_commands = true" \
        in str(err)
    define(host="192.0.2.1")
    factory.get_registry()


@pytest.mark.parametrize("text, option, fragment", [
    ("power_on = start {vm}\npower_off = stop {vm}\npower_stauts = st {vm}\n",
     "power_stauts", "is not a profile option (did you mean power_status?)"),
    ("power_on = start {vm}\npower_off = stop {vm}\nport = many\n", "port", "is invalid"),
    ("power_on = start {vm} $$HOME\npower_off = stop {vm}\ntimeout = -1\n", "timeout",
     "is invalid"),
])
def test_bad_profile_files_stop_start_up(tmp_path, text, option, fragment):
    config_file(tmp_path, "[command_profile:lab]\n" + text)
    err = start_up_error()
    assert err.option == "[command_profile:lab] %s" % option
    assert fragment in str(err)


def test_a_dollar_is_written_twice_in_profiles(tmp_path):
    config_file(tmp_path, "[command_profile:lab]\npower_on = start {vm} $$HOME \\$USER\n"
                          "power_off = stop {vm}\n")
    assert command_settings.load_profile("lab").fields["command_power_on"] == \
        "start {vm} $HOME $USER"


def test_bad_profile_name(tmp_path):
    config_file(tmp_path, "[command_profile:a b]\npower_on = x\npower_off = y\n")
    err = start_up_error()
    assert err.option == "[command_profile:a b]" and "not a usable profile name" in str(err)


# -- inline templates: refused unless the operator opts in ------------------------------

def test_inline_templates_are_refused_by_default(no_process, tmp_path):
    define("libvirt")
    task = make_task(command_power_status="status {vm}", vm="web1")
    message = str(refusal(task))
    for fragment in ("command_power_on, command_power_off, command_power_status",
                     "[command] allow_node_templates = false refuses",
                     "[command_profile:<name>]", "(defined: libvirt)",
                     "set driver_info command_profile=<name>",
                     "allow_node_templates = true"):
        assert fragment in message, fragment
    with pytest.raises(exception.InvalidParameterValue):
        task.driver.power.set_power_state(task, PowerState.ON)  # nothing ran
    # At enrolment the schema refuses each template (what the manager checks).
    _, invalid = task.driver.schema.errors(task.node.driver_info)
    assert len(invalid) == 3
    assert all("refused while [command] allow_node_templates = false" in p for p in invalid)


def test_every_problem_is_listed_at_once_and_nothing_runs(no_process, inline):
    task = make_task(
        command_power_on="start '{name}'",
        command_power_off="stop {vm}",
        command_reboot="cycle {command_secret}",
        command_secret=SECRET,
        command_status_on_pattern="(unclosed",
        command_status_on_exit_code=0,
        command_port=2222,
    )
    err = refusal(task)
    message = str(err)
    for fragment in [
        "command_power_on puts {name} inside single quotes",
        "command_power_off uses {vm}, which is not in driver_info",
        "command_reboot names the secret {command_secret}",
        "command_status_on_pattern is not a valid regular expression",
        "need field command_power_status",
        "exclude each other",
        "field command_port only apply with field command_host",
        "hwdrivers node set <node> --driver-info",
    ]:
        assert fragment in message, fragment
    assert len(err.errors) == 7
    assert SECRET not in message
    with pytest.raises(exception.InvalidParameterValue):
        task.driver.power.set_power_state(task, PowerState.ON)  # nothing ran (no_process)


def test_inline_missing_commands_are_named(no_process, inline):
    task = StandaloneTask.for_driver("command", driver_info={"command_power_status": "x"})
    with pytest.raises(exception.MissingParameterValue) as err:
        task.driver.power.validate(task)
    assert "command_power_on" in str(err.value) and "command_power_off" in str(err.value)


def test_inline_placeholders_are_declared_fields(inline):
    task = make_task(command_power_on="start {vm} {disk}", vm="web1", disk="d")
    assert {"vm", "disk"} <= {p.name for p in task.driver.schema}
    assert task.driver.schema.undeclared(task.node.driver_info) == {}


def test_local_commands_need_the_option(no_process, command_config, inline):
    command_config(command__allow_local_commands=False)
    assert "[command] allow_local_commands = true" in str(refusal(make_task()))
    make_task(command_host="192.0.2.1").driver.power.validate(
        make_task(command_host="192.0.2.1"))  # over SSH: always allowed


@pytest.mark.parametrize("field, value, fragment", [
    ("command_user", "root; id", "command_user 'root; id' must be letters"),
    ("command_ssh_key", "/no/such/key", "no file /no/such/key on the conductor host"),
    ("command_known_hosts", "relative/known_hosts", "must be an absolute path"),
    ("command_known_hosts", "/tmp/a b", "must be an absolute path"),
    ("command_host", "-oProxyCommand=id", "command_host"),
    ("command_port", 70000, "command_port"),
    ("command_timeout", 0, "command_timeout"),
    ("command_status_on_exit_code", 255, "command_status_on_exit_code"),
    ("command_reboot_delay", "inf", "command_reboot_delay"),
    ("command_reboot_delay", 7200, "command_reboot_delay"),
])
def test_bad_ssh_and_number_fields(no_process, inline, field, value, fragment):
    info = {"command_host": "192.0.2.1", field: value}
    if field == "command_status_on_exit_code":
        info["command_power_status"] = "status"
    assert fragment in str(refusal(make_task(**info)))


def test_template_cannot_name_another_interfaces_secret(no_process, inline, monkeypatch):
    task = make_task(command_power_on="start {vm_password}", vm_password="x")
    monkeypatch.setattr(type(task.driver), "schema", params.Schema(
        params.Param("vm_password", "a secret of another interface", secret=True)),
        raising=False)
    assert "names the secret {vm_password}" in str(refusal(task))


def test_a_profile_placeholder_cannot_name_a_secret_of_another_enabled_interface(
        no_process, command_config):
    """Masked everywhere and encrypted at rest because ipmi declares it secret,
    ipmi_password must not then be put on a command line (ps shows it)."""
    command_config(enabled_hardware_types=["command", "ipmi"],
                   enabled_power_interfaces=["command", "ipmitool"],
                   enabled_management_interfaces=["noop", "ipmitool"])
    define("wrap", power_on="ipmitool -P {ipmi_password} -H {bmc} power on",
           power_off="ipmitool -P {ipmi_password} -H {bmc} power off")
    task = profile_task(profile="wrap", bmc="10.0.0.9", ipmi_password="s3cr3t-pw")
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.validate(task)
    message = str(err.value)
    assert "command profile wrap" in message and "{ipmi_password}" in message
    assert "command_secret" in message and "s3cr3t-pw" not in message
    # The same profile without that placeholder is fine.
    define("wrap2", power_on="echo on {bmc}", power_off="echo off {bmc}")
    task = profile_task(profile="wrap2", bmc="10.0.0.9")
    task.driver.power.validate(task)


def test_properties_and_masking():
    power = profile_task().driver.power
    props = power.get_properties()
    for field in ("command_profile", "command_power_on", "command_power_status",
                  "command_host", "command_known_hosts", "command_timeout", "command_secret"):
        assert field in props
    assert "Secret." in props["command_secret"]
    assert "needs [command] allow_node_templates" in props["command_power_on"]
    masked = power.driver_info_schema.mask({"command_secret": SECRET, "command_host": "h"})
    assert masked == {"command_secret": params.MASK, "command_host": "h"}


def test_the_docs_profile_example_loads(tmp_path):
    """The ini example of doc/drivers/command.md is a working configuration."""
    with open(os.path.join(ROOT, "doc", "drivers", "command.md")) as handle:
        text = handle.read()
    example = text.split("## Profiles", 1)[1].split("```ini\n", 1)[1].split("```", 1)[0]
    key = tmp_path / "id_ed25519"
    known_hosts = tmp_path / "known_hosts"
    key.write_text("")
    known_hosts.write_text("")
    example = example.replace("/etc/hwdrivers/id_ed25519", str(key)).replace(
        "/etc/hwdrivers/known_hosts", str(known_hosts))
    config_file(tmp_path, example + "\n[command]\nallow_local_commands = true\n")
    assert [(p.name, p.placeholders) for p in command_settings.load_profiles()] == [
        ("libvirt", ("vm",)), ("relay", ("board", "outlet"))]
    libvirt = command_settings.load_profile("libvirt")
    assert libvirt.fields["command_status_on_pattern"] == "^running$"
    assert libvirt.fields["command_status_off_pattern"] == "shut off|crashed"


def test_doc_lists_every_profile_option():
    with open(os.path.join(ROOT, "doc", "drivers", "command.md")) as handle:
        text = handle.read()
    for option in command_profile.OPTION_NAMES:
        assert "| `%s` |" % option in text, option
    assert "allow_node_templates" in text and "$$" in text


# -- controllers -------------------------------------------------------------------------

def test_controller_keys_and_limits(command_config, inline):
    define("local")
    define("remote", host="192.0.2.9", user="ops", port=2200)
    power = make_task().driver.power
    assert power.controller_key(profile_task(profile="local")) == "local"
    assert power.controller_key(profile_task(profile="remote")) == "ssh:ops@192.0.2.9:2200"
    assert power.controller_key(profile_task(profile="gone")) == "command_profile:gone"
    assert power.controller_key(make_task()) == "local"
    assert power.controller_key(make_task(command_host="192.0.2.9", command_user="ops",
                                          command_port=2200)) == "ssh:ops@192.0.2.9:2200"
    assert power.controller_key(make_task(command_host="hv1")) == (
        "ssh:%s@hv1:22" % getpass.getuser())
    assert power.controller_key(make_task(command_host="hv1", command_port="x")) == "ssh:hv1"
    assert power.controller_limits() == (1, 0.0)
    command_config(command__max_concurrency=3, command__min_command_interval=0.5)
    assert power.controller_limits() == (3, 0.5)


# -- ssh's failures ---------------------------------------------------------------------

TARGET = ssh.Target("192.0.2.7", 2222, "ops", "/keys/id", "/etc/hw/known_hosts")


@pytest.mark.parametrize("stderr, cls, fragment", [
    ("ops@192.0.2.7: Permission denied (publickey).", exception.DriverAuthError,
     "refused the SSH key /keys/id"),
    ("Received disconnect from 192.0.2.7 port 2222:2: Too many authentication failures",
     exception.DriverAuthError, "check command_user and command_ssh_key"),
    ("@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\n...\nHost key verification "
     "failed.", exception.DriverSettingsError, "add the host's key to that file"),
    ("No ED25519 host key is known for [192.0.2.7]:2222 and you have requested strict "
     "checking.\nHost key verification failed.", exception.DriverSettingsError,
     "not in command_known_hosts (/etc/hw/known_hosts)"),
    ("WARNING: UNPROTECTED PRIVATE KEY FILE!\nbad permissions", exception.DriverSettingsError,
     "chmod 600"),
    ("ssh: connect to host 192.0.2.7 port 2222: Connection refused",
     exception.DriverConnectionError, "cannot reach the SSH server 192.0.2.7:2222"),
    ("Connection timed out during banner exchange", exception.DriverConnectionError,
     "cannot reach"),
    ("ssh: connect to host 192.0.2.7 port 2222: No route to host",
     exception.DriverConnectionError, "cannot reach"),
    ("ssh: Could not resolve hostname hv9: Name or service not known",
     exception.DriverConnectionError, "cannot resolve command_host"),
])
def test_ssh_failures_map_to_the_taxonomy(stderr, cls, fragment):
    with pytest.raises(cls) as err:
        ssh.raise_for_ssh_failure(ssh.Result(255, "", stderr + "\n"), TARGET)
    assert fragment in str(err.value)
    assert "(ssh: " in str(err.value)


@pytest.mark.parametrize("code, stderr", [
    (1, "Permission denied"),  # the remote command's own failure
    (255, "virsh: domain not found"),  # a remote command exiting 255
    (0, ""),
])
def test_not_ssh_failures_pass(code, stderr):
    ssh.raise_for_ssh_failure(ssh.Result(code, "", stderr), TARGET)


def test_client_argv_checks_host_keys_and_reuses_connections(config, tmp_path):
    short = tempfile.mkdtemp(prefix="hw-", dir="/tmp")  # room for a socket path
    config(state_path=short)
    try:
        _check_client_argv(config, short)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _check_client_argv(config, state_path):
    argv = ssh.client_argv(TARGET, "echo 'a b'; id", timeout=30)
    joined = " ".join(argv)
    for option in ("BatchMode=yes", "StrictHostKeyChecking=yes", "UpdateHostKeys=no",
                   "UserKnownHostsFile=/etc/hw/known_hosts", "GlobalKnownHostsFile=/dev/null",
                   "IdentitiesOnly=yes", "ControlMaster=auto", "ControlPersist=60",
                   "ConnectTimeout=10"):
        assert option in joined, option
    assert argv[-3:] == ["--", "192.0.2.7", "echo 'a b'; id"]  # one remote string
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "ops"
    control = [a for a in argv if a.startswith("ControlPath=")][0].split("=", 1)[1]
    assert os.path.dirname(control) == os.path.join(state_path, "ssh")
    assert stat_mode(os.path.dirname(control)) == 0o700
    assert "ConnectTimeout=2" in ssh.client_argv(TARGET, "x", timeout=2.5)
    assert "ConnectTimeout=1" in ssh.client_argv(TARGET, "x", timeout=0.3)
    other_key = ssh.client_argv(TARGET._replace(key="/keys/other"), "x", timeout=30)
    assert control not in " ".join(other_key)  # never reuse another identity's master

    config(command__ssh_control_persist=0)
    joined = " ".join(ssh.client_argv(TARGET, "x", timeout=30))
    assert "ControlMaster=no" in joined and "ControlPath=none" in joined


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_missing_ssh_client_warns_at_load(config, caplog):
    power = profile_task(profile=None).driver.power
    power.check_config()
    assert "ssh_command" not in caplog.text
    config(command__ssh_command="/nonexistent/ssh")
    power.check_config()  # local nodes still work: a warning, not a refusal
    assert "[command] ssh_command /nonexistent/ssh is not installed" in caplog.text


def test_control_dir_falls_back_when_state_path_is_too_long(config, tmp_path):
    long_path = tmp_path / ("x" * 90)
    config(state_path=str(long_path))
    directory = ssh.control_dir()
    assert not directory.startswith(str(long_path))
    assert "hwdrivers-ssh-%d-" % os.getuid() in directory
    assert len(ssh.control_path(TARGET)) <= 107 - 17


# -- running: error paths -----------------------------------------------------------------

def fail_with(monkeypatch, error):
    def run(*args, **kwargs):
        raise error
    monkeypatch.setattr(ssh, "run_process", run)


@pytest.mark.parametrize("host, error, cls, fragment", [
    (None, FileNotFoundError(2, "x"), exception.DriverToolMissing, "POSIX shell"),
    ("192.0.2.1", FileNotFoundError(2, "x"), exception.DriverToolMissing,
     "install the OpenSSH client"),
    (None, PermissionError(13, "denied"), exception.DriverToolMissing, "cannot run sh"),
    (None, ssh.ProcessTimeout(2.0, "", "stuck with " + SECRET), exception.DriverActionError,
     "[command_profile:hv] power_on did not finish within 2.0s (command timeout); killed "
     "it and everything it started: stuck with " + params.MASK),
    ("192.0.2.1", ssh.ProcessTimeout(2.0, "", ""), exception.DriverConnectionError,
     "on root@192.0.2.1:22 did not finish within 2.0s"),
])
def test_run_failures(monkeypatch, host, error, cls, fragment):
    fail_with(monkeypatch, error)
    define(host=host, user="root" if host else None, timeout=2.0, reboot_delay=1)
    task = profile_task(command_secret=SECRET)
    with pytest.raises(cls) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert fragment in str(err.value)
    assert SECRET not in str(err.value)


def returning(monkeypatch, code, stdout="", stderr=""):
    calls = []

    def run(argv, **kwargs):
        calls.append((argv, kwargs))
        return ssh.Result(code, stdout, stderr)
    monkeypatch.setattr(ssh, "run_process", run)
    return calls


def test_default_timeout_comes_from_config(monkeypatch, command_config):
    command_config(command__command_timeout=7.5)
    calls = returning(monkeypatch, 0)
    define()
    task = profile_task()
    task.driver.power.set_power_state(task, PowerState.ON)
    assert calls[0][1]["timeout"] == 7.5
    define(timeout=1.5, reboot_delay=1)
    task.driver.power.set_power_state(task, PowerState.ON)
    assert calls[1][1]["timeout"] == 1.5


def test_commands_get_a_minimal_environment(monkeypatch):
    """Nothing of the conductor's environment but PATH, LANG, HOME (and the secret)."""
    monkeypatch.setenv("HWDRIVERS_DATABASE_URL", "postgresql://u:canary-pw@db/x")
    monkeypatch.setenv("OS_TOKEN", "canary-token")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    calls = returning(monkeypatch, 0)
    define()
    define("remote", host="192.0.2.1")
    for profile in ("hv", "remote"):
        task = profile_task(profile=profile, command_secret=SECRET)
        task.driver.power.set_power_state(task, PowerState.ON)
    local, remote = calls[0][1]["env"], calls[1][1]["env"]
    assert local == dict({k: os.environ[k] for k in ("PATH", "LANG", "HOME")
                          if k in os.environ}, **{command.SECRET_ENV: SECRET},
                         **{k: os.environ[k] for k in ("LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
                            if k in os.environ})
    assert "canary" not in repr(local) and "canary" not in repr(remote)
    assert remote["SSH_AUTH_SOCK"] == "/tmp/agent.sock"  # the ssh client may use an agent
    assert command.SECRET_ENV not in remote  # over SSH the secret goes to stdin


def test_secret_goes_to_env_locally_and_stdin_over_ssh(monkeypatch):
    calls = returning(monkeypatch, 0)
    define()
    define("remote", host="192.0.2.1")
    task = profile_task(command_secret=SECRET)
    task.driver.power.set_power_state(task, PowerState.ON)
    argv, kwargs = calls[0]
    assert argv == ["sh", "-c", "echo on web1"] and kwargs["env"][command.SECRET_ENV] == SECRET
    assert kwargs["input"] is None
    task = profile_task(profile="remote", command_secret=SECRET)
    task.driver.power.set_power_state(task, PowerState.ON)
    argv, kwargs = calls[1]
    assert SECRET not in " ".join(argv) and SECRET not in repr(kwargs["env"])
    assert kwargs["input"] == SECRET + "\n"
    assert argv[-1] == ("IFS= read -r HWDRIVERS_COMMAND_SECRET; export "
                        "HWDRIVERS_COMMAND_SECRET; set -- sh -c 'echo on web1'; command -v "
                        "timeout >/dev/null 2>&1 && set -- timeout -s KILL 31 \"$@\"; "
                        "exec \"$@\"")


@pytest.mark.parametrize("with_timeout_binary", [True, False])
def test_remote_command_runs_like_the_local_one(tmp_path, with_timeout_binary):
    """The remote string, run by a login shell, is the template's command verbatim.

    Without ``timeout`` on the host it still runs (unwrapped).
    """
    body = shell_template.render("printf '[%s]' {v}; echo \" $0\"", {"v": "a'b $(x) `y`\n;"})
    remote = command.remote_command(body, 2.5, with_secret=True)
    assert "timeout -s KILL 4 " in remote
    path = os.environ["PATH"] if with_timeout_binary else str(tmp_path)
    if not with_timeout_binary:
        os.symlink("/bin/sh", tmp_path / "sh")
    result = subprocess.run(["/bin/bash", "-c", remote], input="s3\n", capture_output=True,
                            text=True, env={"PATH": path}, timeout=10)
    assert result.stdout == "[a'b $(x) `y`\n;] sh\n", result.stderr


@pytest.mark.parametrize("code, stdout, values, expected", [
    (0, "on\n", {}, PowerState.ON),
    (0, " OFF \n", {}, PowerState.OFF),
    (0, "Domain: vm1\nState: running\n", {"status_on_pattern": "running",
                                          "status_off_pattern": ".*"}, PowerState.ON),
    (0, "State: shut off\n", {"status_on_pattern": "running",
                              "status_off_pattern": ".*"}, PowerState.OFF),
    (0, "", {"status_on_exit_code": 0}, PowerState.ON),
    (1, "", {"status_on_exit_code": 0}, PowerState.OFF),
    (3, "", {"status_on_exit_code": 3, "status_off_exit_code": 4}, PowerState.ON),
    (4, "", {"status_on_exit_code": 3, "status_off_exit_code": 4}, PowerState.OFF),
])
def test_status_parsing(monkeypatch, code, stdout, values, expected):
    returning(monkeypatch, code, stdout)
    define(power_status="status {vm}", **values)
    task = profile_task()
    assert task.driver.power.get_power_state(task) == expected


@pytest.mark.parametrize("code, stdout, values, cls, fragment", [
    (0, "unknown", {}, exception.DriverActionError,
     "matches neither [command_profile:hv] status_on_pattern"),
    (2, "on", {}, exception.DriverActionError, "[command_profile:hv] power_status exited 2"),
    (127, "", {"status_on_exit_code": 0}, exception.DriverSettingsError,
     "command not found or not executable: fix [command_profile:hv] power_status"),
    (126, "", {"status_on_exit_code": 0}, exception.DriverSettingsError,
     "fix [command_profile:hv] power_status"),
    (255, "", {"status_on_exit_code": 0}, exception.DriverActionError,
     "neither [command_profile:hv] status_on_exit_code (0)"),
    (5, "", {"status_on_exit_code": 0, "status_off_exit_code": 1},
     exception.DriverActionError, "status_off_exit_code (1)"),
])
def test_status_failures(monkeypatch, code, stdout, values, cls, fragment):
    returning(monkeypatch, code, stdout, "it broke: " + SECRET)
    define(power_status="status", **values)
    task = profile_task(command_secret=SECRET)
    with pytest.raises(cls) as err:
        task.driver.power.get_power_state(task)
    assert fragment in str(err.value)
    assert SECRET not in str(err.value)


def test_remote_exit_255_with_secret_in_stderr_is_redacted(monkeypatch):
    """ssh writes its own messages to its -E file, which may quote the secret."""
    def run(argv, **kwargs):
        with open(argv[argv.index("-E") + 1], "w") as log:
            log.write("%s\r\nPermission denied (publickey).\r\n" % SECRET)
        return ssh.Result(255, "", "")
    monkeypatch.setattr(ssh, "run_process", run)
    define(host="192.0.2.1")
    task = profile_task(command_secret=SECRET)
    with pytest.raises(exception.DriverAuthError) as err:
        task.driver.power.set_power_state(task, PowerState.ON)
    assert SECRET not in str(err.value)


def test_supported_states_and_refused_targets(monkeypatch):
    returning(monkeypatch, 0)
    define()
    task = profile_task()
    assert task.driver.power.get_supported_power_states(task) == [
        PowerState.ON, PowerState.OFF, PowerState.REBOOT]
    with pytest.raises(exception.InvalidPowerState, match="supported: power on"):
        task.driver.power.set_power_state(task, PowerState.SOFT_OFF)


def test_reboot_without_reboot_command_shares_one_timeout(monkeypatch, command_config):
    """off, the delay and on get one command timeout between them, not one each."""
    calls = returning(monkeypatch, 0)
    define(timeout=10, reboot_delay=0.3)
    task = profile_task()
    task.driver.power.reboot(task)
    (off, off_kw), (on, on_kw) = calls
    assert off[-1] == "echo off web1" and on[-1] == "echo on web1"
    assert 9 < off_kw["timeout"] <= 10
    assert on_kw["timeout"] <= 10 - 0.3

    calls.clear()
    define(timeout=2, reboot_delay=5)  # after start-up, which would have refused it
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.reboot(task)
    assert "reboot_delay (5.0s) is not shorter than the timeout (2.0s)" in str(err.value)
    assert calls == []  # refused before powering anything off

    command_profile.forget_registered(CONF)
    command_config(command__allow_node_templates=True)  # inline: refused per call
    task = make_task(command_timeout=2)
    with pytest.raises(exception.DriverSettingsError) as err:
        task.driver.power.reboot(task)
    assert "field command_reboot_delay (5.0s)" in str(err.value)
    assert "set field command_reboot" in str(err.value)
    assert calls == []


def test_run_process_kills_the_group_at_the_deadline(tmp_path):
    started = time.monotonic()
    with pytest.raises(ssh.ProcessTimeout) as err:
        ssh.run_process(["sh", "-c", "echo partial; sleep 30 & sleep 30"], timeout=0.5)
    assert time.monotonic() - started < 3.0
    assert err.value.stdout == "partial\n"
    result = ssh.run_process(["sh", "-c", "cat; echo err >&2; exit 3"], input="in",
                             timeout=5)
    assert result == ssh.Result(3, "in", "err\n")
