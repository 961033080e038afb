"""Power through commands the operator defines, run locally or over SSH.

The generic controller of otto's ``CommandPowerController``: commands that
switch a machine on and off (a hypervisor's ``virsh start {vm}``, a jump
host's ``ipmitool``, a relay script) and optionally one that reports its
state, run on the conductor host or, over OpenSSH (:mod:`.ssh`), on a
controller host.

Who writes a command. The operator: commands live in the conductor's
configuration as named profiles (``[command_profile:libvirt]``, see
:mod:`hwdrivers.conf.command_profile`), loaded and checked at start-up. A
node selects one with driver_info ``command_profile`` and supplies only the
values of its placeholders (``vm = web1``), which the node's declaration
then lists as required fields. Templates written in driver_info itself
(``command_power_on``...) let whoever may edit a node run any command as
the conductor's user, so they are refused unless ``[command]
allow_node_templates`` is on.

Templates. ``{name}``, ``{uuid}`` and the profile's own placeholders. Each
placeholder becomes one ``shlex.quote``-d word, so no value can add shell
syntax; a placeholder where that quoting would be undone (inside quotes,
backticks or ``${...}``, after a backslash, a here-document or a ``#``
comment start: see :func:`placeholders`) is refused. ``{{`` and ``}}`` are
literal braces. The result runs as ``sh -c <command>``, locally with a
minimal environment, or on the SSH host (see :func:`remote_command`: ssh
hands the remote shell one string, so it is quoted once more), under the
remote ``timeout`` when the host has it.

Secrets. Templates cannot name a declared secret (it would end up in a
process's argv, visible to every user of the host). The one secret this
driver takes, the node's ``command_secret``, reaches the command as the
environment variable ``HWDRIVERS_COMMAND_SECRET``: through the environment
locally, through ssh's stdin (read by the remote shell before the command)
over SSH.

Deadlines. Each command is killed with its process group after its
timeout, and a reboot without a reboot command (off, delay, on) shares one
timeout, so one attempt never outlives one command timeout and one
operation ends within ``[command] command_retry_timeout`` plus one command
timeout.

State. With a status command the state is read from its output (regexes)
or its exit code. Without one the hardware cannot be asked, so
``get_power_state`` returns the last state this driver set, recorded in
``driver_internal_info["command_power_state"]``, or ``PowerState.ERROR``
(with a warning saying why) before the first power action.
"""

import dataclasses
import difflib
import getpass
import logging
import math
import os
import re
import shlex
import shutil
import string
import time
from collections.abc import Callable

from oslo_config import cfg

from hwdrivers.common import environment
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conf import command_profile
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import ssh

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

SECRET_ENV = "HWDRIVERS_COMMAND_SECRET"
STATE_KEY = "command_power_state"
PROFILE_FIELD = "command_profile"
SECRET_FIELD = "command_secret"

TEMPLATES = ("command_power_on", "command_power_off", "command_power_status",
             "command_reboot")
#: Placeholders every template may use, filled from the node itself.
BUILTINS = ("name", "uuid")
_STATUS_FIELDS = ("command_status_on_pattern", "command_status_off_pattern",
                  "command_status_on_exit_code", "command_status_off_exit_code")
_SSH_FIELDS = ("command_port", "command_user", "command_ssh_key", "command_known_hosts")
_PLACEHOLDER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# ssh reads these paths through its config parser: no spaces, quotes or % tokens.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+@,:=-]*$")
# Exit codes that never mean "off": not executable, not found, ssh's own failure.
_NEVER_STATE = (126, 127, 255)

DEFAULT_ON_PATTERN = r"^\s*on\s*$"
DEFAULT_OFF_PATTERN = r"^\s*off\s*$"

_FORMATTER = string.Formatter()


# -- templates -----------------------------------------------------------------

_QUOTE_NAMES = {"'": "single quotes", '"': "double quotes", "`": "backticks"}
#: Contexts in which the shell splits words (and so honours ``#`` comments).
_UNQUOTED = (None, "$(", "(")
#: Characters after which an unquoted ``#`` starts a comment (a new token).
_WORD_BREAKS = frozenset(" \t\n;&|()<>")
_WORD = "a"  # stands for "the previous character was part of a word"


def _scan(literal, stack, state):
    """Advance the shell's parse ``stack`` over ``literal`` (text without placeholders).

    The stack holds the open contexts: ``'``, ``"``, `````, ``$(`` and
    ``(`` (the last two unquoted), ``${`` and ``"${`` (a parameter
    expansion, unquoted or inside double quotes). ``state`` records a
    pending backslash, whether an unquoted ``<<`` (here-document) was seen,
    whether a ``#`` comment is open (until the next newline) and the
    previous character (``prev``), which decides whether a ``#`` starts a
    word and so a comment: it does at the start, after blanks and after
    ``;&|()<>``, but not inside a word (``a#b``, ``$(x)#y``, ``${#x}``).
    """
    i = 0
    state["escaped"] = False
    while i < len(literal):
        char = literal[i]
        top = stack[-1] if stack else None
        prev = char
        if state["comment"]:
            if char == "\n":
                state["comment"] = False
        elif top == "'":
            if char == "'":
                stack.pop()
        elif char == "\\":
            if i + 1 == len(literal):
                state["escaped"] = True
            i += 1
            prev = _WORD
        elif top == '"':
            if char == '"':
                stack.pop()
            elif literal.startswith("$(", i) or literal.startswith("${", i):
                stack.append("$(" if literal[i + 1] == "(" else '"${')
                i += 1
            elif char == "`":
                stack.append("`")
        elif top == "`":
            if char == "`":
                stack.pop()
        elif top in ("${", '"${'):
            if char == "}":
                stack.pop()
            elif char == "'" and top == '"${':
                # bash opens a quote here, dash reads a literal ': no safe reading.
                raise ValueError("has a single quote inside a double-quoted ${...}, "
                                 "which bash and dash read differently: rewrite it")
            elif char in "'\"`":
                stack.append(char)
            elif literal.startswith("$(", i) or literal.startswith("${", i):
                stack.append("$(" if literal[i + 1] == "(" else "${")
                i += 1
        elif char in "'\"`":
            stack.append(char)
            prev = _WORD
        elif literal.startswith("$(", i) or literal.startswith("${", i):
            stack.append("$(" if literal[i + 1] == "(" else "${")
            i += 1
            prev = "(" if stack[-1] == "$(" else _WORD
        elif char == "(":
            stack.append("(")
        elif char == ")" and top in ("$(", "("):
            # $(...) ends inside a word; a subshell's ) is an operator.
            prev = _WORD if stack.pop() == "$(" else ")"
        elif char == "#" and state["prev"] in _WORD_BREAKS | {None}:
            state["comment"] = True
        elif literal.startswith("<<", i):
            if literal.startswith("<<<", i):
                i += 2
            else:
                state["heredoc"] = True
                i += 1
        elif char not in _WORD_BREAKS:
            prev = _WORD
        state["prev"] = prev
        i += 1


def placeholders(template):
    """Placeholder names of ``template``; ValueError saying what is wrong.

    Only bare ``{field}`` is allowed (no ``{a.b}``, ``{a[0]}``, ``{a!r}``,
    ``{a:>9}``). Each becomes one single-quoted shell word, which is safe
    only where the shell parses words: so a placeholder is refused inside
    quotes (the value's own quotes would close them), inside backticks
    (whose end the shell finds before honouring quotes), inside ``${...}``,
    right after a backslash (which would escape the opening quote), after a
    here-document ``<<`` (whose body expands ``$(...)`` even in quotes) and
    after a ``#`` that starts a comment (a newline in the value would end
    the comment and start a command). Inside ``$(...)``, also within double
    quotes, words are parsed again, so ``test "$(cat {file})" = on`` is fine.
    """
    names = []
    stack = []
    state = {"escaped": False, "heredoc": False, "comment": False, "prev": None}
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValueError("is not a valid template (%s); write literal braces as "
                         "{{ and }}" % exc) from None
    for literal, field, spec, conversion in parsed:
        _scan(literal, stack, state)
        if field is None:
            continue
        if not _PLACEHOLDER.match(field) or spec or conversion:
            raise ValueError("has placeholder {%s%s%s}: use a bare {field_name}" % (
                field, "!" + conversion if conversion else "", ":" + spec if spec else ""))
        if state["comment"]:
            raise ValueError("puts {%s} after a # that starts a shell comment: a line "
                             "break in the value would end the comment and run the rest; "
                             "move the placeholder before the #, or quote the # ('#')"
                             % field)
        if "`" in stack:
            raise ValueError("puts {%s} inside backticks: write $(...) instead" % field)
        if stack and stack[-1] in ("'", '"'):
            raise ValueError("puts {%s} inside %s: remove the quotes, every placeholder "
                             "is quoted for the shell already" % (
                                 field, _QUOTE_NAMES[stack[-1]]))
        if "${" in stack or '"${' in stack:
            raise ValueError("puts {%s} inside ${...}: pass it as a word of its own"
                             % field)
        if state["escaped"]:
            raise ValueError("puts a backslash right before {%s}: remove it" % field)
        if literal.endswith("$"):
            raise ValueError("puts $ right before {%s}: a placeholder is a value, not a "
                             "variable name (write ${{VAR}} for a shell variable)" % field)
        if state["heredoc"]:
            raise ValueError("uses {%s} after a here-document (<<), whose body would "
                             "expand $(...) in the value: pass it as an argument" % field)
        names.append(field)
        state["prev"] = _WORD  # the quoted value is a word
    return names


def render(template, values):
    """``template`` with each placeholder replaced by its shell-quoted value."""
    out = []
    for literal, field, _spec, _conversion in _FORMATTER.parse(template):
        out.append(literal)
        if field is not None:
            out.append(shlex.quote(str(values[field])))
    return "".join(out)


def remote_command(command, timeout, with_secret):
    """The one string ssh gives the remote login shell to run ``command``.

    ssh joins its remote arguments with spaces for the remote shell, so
    the command travels as one string, quoted once more here, and runs as
    ``sh -c <command>`` exactly as it does locally. Where the host has
    coreutils' ``timeout`` it wraps the command and kills its process
    group a second after our deadline: killing the local ssh client cannot
    stop a hung remote command. With a secret, the remote shell first reads
    it from stdin into the environment, so it never sits in an argv.
    """
    parts = []
    if with_secret:
        parts.append("IFS= read -r %s; export %s" % (SECRET_ENV, SECRET_ENV))
    parts.append("t=; command -v timeout >/dev/null 2>&1 && t='timeout -s KILL %d'"
                 % (math.ceil(timeout) + 1))
    parts.append("exec $t sh -c %s" % shlex.quote(command))
    return "; ".join(parts)


# -- checks shared by profiles and inline templates ------------------------------

def _template_problems(info, label, secrets, values=None):
    """Problems ``(field, text)`` of the templates in ``info``, and their placeholders.

    ``label(field)`` names a field in messages. ``values`` (inline
    templates only) are the node's fields a placeholder may use; for a
    profile the node supplies them later, as declared fields.
    """
    problems, names = [], []
    for field in TEMPLATES:
        if info.get(field) is None:
            continue
        try:
            used = placeholders(info[field])
        except ValueError as exc:
            problems.append((field, "%s %s" % (label(field), exc)))
            continue
        for name in used:
            if name in secrets:
                problems.append((field, "%s names the secret {%s}: a secret in a command "
                                 "line is visible to every user of the host; read it from "
                                 "$%s (the node's %s) instead" % (label(field), name,
                                                                 SECRET_ENV, SECRET_FIELD)))
            elif values is None:
                if name.startswith("command_"):
                    problems.append((field, "%s uses {%s}: names starting with command_ "
                                     "are the driver's own fields; rename the placeholder"
                                     % (label(field), name)))
                elif name not in names and name not in BUILTINS:
                    names.append(name)
            elif name in values and "\0" in str(values[name]):
                problems.append((field, "%s uses {%s}, whose value holds a NUL byte, "
                                 "which no command line can carry: fix %s"
                                 % (label(field), name, name)))
            elif name not in values:
                problems.append((field, "%s uses {%s}, which is not in driver_info: add "
                                 "it, or use {name}, {uuid} or another field"
                                 % (label(field), name)))
    return problems, names


def _settings_problems(info, present, label, local_fix):
    """Problems ``(field, text)`` of the status and SSH settings in ``info``.

    ``info`` is typed, under the inline names; ``present`` holds the fields
    set explicitly (not left to a default).
    """
    problems = []
    for field in ("command_status_on_pattern", "command_status_off_pattern"):
        try:
            re.compile(info[field])
        except re.error as exc:
            problems.append((field, "%s is not a valid regular expression: %s"
                             % (label(field), exc)))
    status_set = [f for f in _STATUS_FIELDS if f in present]
    if status_set and info["command_power_status"] is None:
        problems.append((status_set[0], "%s need%s %s" % (
            ", ".join(label(f) for f in status_set), "" if len(status_set) > 1 else "s",
            label("command_power_status"))))
    if info["command_status_on_exit_code"] is None:
        if info["command_status_off_exit_code"] is not None:
            problems.append(("command_status_off_exit_code", "%s needs %s" % (
                label("command_status_off_exit_code"),
                label("command_status_on_exit_code"))))
    elif any(f in present for f in _STATUS_FIELDS[:2]):
        problems.append(("command_status_on_exit_code",
                         "%s and the status patterns exclude each other: read the state "
                         "from the exit code or from the output"
                         % label("command_status_on_exit_code")))
    if info["command_host"] is None:
        ssh_set = [f for f in _SSH_FIELDS if f in present]
        if ssh_set:
            problems.append((ssh_set[0], "%s only apply with %s" % (
                ", ".join(label(f) for f in ssh_set), label("command_host"))))
        if not CONF.command.allow_local_commands:
            problems.append(("command_host",
                             "%s is unset, so the commands would run on the conductor "
                             "host, which [command] allow_local_commands = false forbids: "
                             "%s, or set [command] allow_local_commands = true"
                             % (label("command_host"), local_fix)))
    else:
        if info["command_user"] is not None and not _USER.match(info["command_user"]):
            problems.append(("command_user", "%s %r must be letters, digits and ._-"
                             % (label("command_user"), info["command_user"])))
        for field in ("command_ssh_key", "command_known_hosts"):
            if info[field] is None:
                continue
            if not _SAFE_PATH.match(info[field]):
                problems.append((field, "%s must be an absolute path of letters, digits "
                                 "and ./_+@,:=- (got %r)" % (label(field), info[field])))
            elif not os.path.isfile(info[field]):
                problems.append((field, "%s: no file %s on the conductor host"
                                 % (label(field), info[field])))
    return problems


# -- profiles ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Profile:
    """A checked ``[command_profile:<name>]``: its settings under the inline names."""

    name: str
    fields: dict
    placeholders: tuple

    @property
    def group(self):
        return command_profile.group_name(self.name)

    def label(self, field):
        return "[%s] %s" % (self.group, field[len("command_"):])


def _config_error(profile, option, message):
    where = "[%s]%s" % (command_profile.group_name(profile), " " + option if option else "")
    return exception.ConfigInvalid("%s %s" % (where, message), option=where)


def _read_option(group, profile, option):
    try:
        return getattr(group, option)
    except (cfg.NoSuchOptError, cfg.TemplateSubstitutionError) as exc:
        ref = getattr(exc, "opt_name", None)
        raise _config_error(profile, option, (
            "refers to %s: oslo.config reads $name in a value as another option; "
            "write $$ (or \\$) for the shell's $" % (
                "$%s, which is not an option" % ref if ref else "an option"))) from None
    except (cfg.ConfigFileValueError, ValueError) as exc:
        raise _config_error(profile, option, "is invalid: %s" % exc) from None


def load_profile(name):
    """The checked :class:`Profile` ``name``; ConfigInvalid naming the option if not."""
    defined = command_profile.profile_names(CONF)
    if name not in defined:
        raise exception.ConfigInvalid(
            "no command profile %s is defined; defined: %s" % (
                name, ", ".join(defined) or "none"),
            option="[%s]" % command_profile.group_name(name))
    if not command_profile.NAME.match(name):
        raise _config_error(name, None, "is not a usable profile name: use letters, "
                                        "digits and ._- (at most 63)")
    group = command_profile.register_group(CONF, name)
    unknown = sorted(command_profile.file_options(CONF, name)
                     - set(command_profile.OPTION_NAMES))
    if unknown:
        close = difflib.get_close_matches(unknown[0], command_profile.OPTION_NAMES, n=1)
        raise _config_error(name, unknown[0], "is not a profile option%s; known: %s" % (
            " (did you mean %s?)" % close[0] if close else "",
            ", ".join(command_profile.OPTION_NAMES)))
    info = {}
    present = set()
    for opt in command_profile.opts:
        value = _read_option(group, name, opt.dest)
        info["command_" + opt.dest] = value
        if value is not None and value != opt.default:
            present.add("command_" + opt.dest)
    for option in ("power_on", "power_off"):
        if not (info["command_" + option] or "").strip():
            raise _config_error(name, option, "is required: the command that powers "
                                              "the node %s" % option[len("power_"):])
    if info["command_host"] is not None:
        try:
            info["command_host"] = params.parse_address(info["command_host"])
        except ValueError as exc:
            raise _config_error(name, "host", str(exc)) from None

    def label(field):
        return field[len("command_"):]
    problems, names = _template_problems(info, label, {SECRET_FIELD})
    problems += _settings_problems(info, present, label,
                                   "set host in [%s]" % command_profile.group_name(name))
    if problems:
        where = "[%s]" % command_profile.group_name(name)
        raise exception.ConfigInvalid(
            "%s %s" % (where, "; ".join(text for _, text in problems)),
            option="%s %s" % (where, label(problems[0][0])))
    return Profile(name, info, tuple(names))


def load_profiles():
    """Every defined profile, checked (start-up); ConfigInvalid on the first bad one."""
    return [load_profile(name) for name in command_profile.profile_names(CONF)]


def _profile_or_none(name):
    try:
        return load_profile(name)
    except exception.ConfigInvalid:
        return None


# -- driver_info declarations ------------------------------------------------------

def _known_profile(value):
    defined = command_profile.profile_names(CONF)
    if value not in defined:
        raise ValueError("names no command profile; defined in the conductor's "
                         "configuration: %s (an operator adds one as a "
                         "[command_profile:<name>] group)" % (", ".join(defined) or "none"))


def _inline_allowed(_value):
    if not CONF.command.allow_node_templates:
        raise ValueError("is a command template in driver_info, refused while [command] "
                         "allow_node_templates = false: select an operator-defined "
                         "profile with command_profile instead")


def _one_line_value(value):
    if "\0" in value:
        raise ValueError("holds a NUL byte, which no command line can carry")


def _profile_param(required):
    return params.Param(
        PROFILE_FIELD, "Name of the command profile ([command_profile:<name>] in the "
        "conductor's configuration) whose commands power this node; the node gives "
        "the values of its placeholders as fields of their own", required=required,
        check=_known_profile)


SECRET_PARAM = params.Param(
    SECRET_FIELD, "A secret the commands read from the environment variable %s; "
    "templates cannot name it" % SECRET_ENV, secret=True)

_INLINE = " Inline: needs [command] allow_node_templates."


def _inline_params(required):
    return (
        params.Param("command_power_on", "Command that powers the node on (a template: "
                     "{name}, {uuid}, {<driver_info field>})." + _INLINE,
                     required=required, check=_inline_allowed),
        params.Param("command_power_off", "Command that powers the node off (a "
                     "template)." + _INLINE, required=required, check=_inline_allowed),
        params.Param("command_power_status",
                     "Command that reports the power state (a template); unset: the "
                     "state is the last one this driver set." + _INLINE,
                     check=_inline_allowed),
        params.Param("command_reboot", "Command that power cycles the node (a template); "
                     "unset: power off, wait command_reboot_delay, power on." + _INLINE,
                     check=_inline_allowed),
        params.Param("command_reboot_delay", "Seconds between off and on when rebooting "
                     "without command_reboot." + _INLINE, type="float", default=5.0, min=0),
        params.Param("command_status_on_pattern",
                     "Regular expression (searched, case-insensitive, ^ and $ match at "
                     "each line) whose match in the status output means on." + _INLINE,
                     default=DEFAULT_ON_PATTERN),
        params.Param("command_status_off_pattern",
                     "Regular expression whose match in the status output means off "
                     "(tried after the on pattern; '.*' makes any other output off)."
                     + _INLINE, default=DEFAULT_OFF_PATTERN),
        params.Param("command_status_on_exit_code",
                     "Read the state from the status command's exit code instead of its "
                     "output: this code means on." + _INLINE, type="int", min=0, max=254),
        params.Param("command_status_off_exit_code",
                     "With command_status_on_exit_code: this code means off (unset: any "
                     "other code but 126, 127 and 255)." + _INLINE, type="int", min=0,
                     max=254),
        params.Param("command_host", "Host the commands run on over SSH; unset: the "
                     "conductor host (needs [command] allow_local_commands)." + _INLINE,
                     type="address"),
        params.Param("command_port", "SSH port of command_host." + _INLINE, type="port",
                     default=22),
        params.Param("command_user", "SSH user on command_host (unset: the conductor's "
                     "user)." + _INLINE),
        params.Param("command_ssh_key", "Path of the SSH private key on the conductor host "
                     "(unset: ssh's default keys)." + _INLINE),
        params.Param("command_known_hosts", "Path of the known_hosts file holding "
                     "command_host's key; host keys are always checked (unset: "
                     "~/.ssh/known_hosts)." + _INLINE),
        params.Param("command_timeout", "Seconds one command may run before it is killed "
                     "with everything it started (unset: [command] command_timeout)."
                     + _INLINE, type="float", min=0.1),
    )


INLINE_FIELDS = tuple(p.name for p in _inline_params(False))
#: What `driver properties` and the docs show: every field either way may use.
SCHEMA = params.Schema(_profile_param(False), SECRET_PARAM, *_inline_params(False))
_INLINE_SCHEMA = params.Schema(SECRET_PARAM, *_inline_params(True))


def _value_param(name, where):
    return params.Param(name, "Value of {%s} in %s" % (name, where), required=True,
                        check=_one_line_value)


def schema_for(driver_info):
    """The declaration for a node with ``driver_info``; never raises.

    With ``command_profile``: the profile's placeholders, each a required
    field. With inline templates: the inline fields and the fields their
    placeholders name. With neither: ``command_profile`` is what is missing.
    """
    info = driver_info if isinstance(driver_info, dict) else {}
    name = info.get(PROFILE_FIELD)
    if name not in (None, ""):
        declared = [_profile_param(True), SECRET_PARAM]
        profile = _profile_or_none(str(name))
        if profile is not None:
            declared += [_value_param(p, "the commands of command profile %s" % name)
                         for p in profile.placeholders]
        return params.Schema(*declared)
    if not any(info.get(field) is not None for field in TEMPLATES):
        if CONF.command.allow_node_templates:
            return SCHEMA + params.Schema(_profile_param(True))
        return params.Schema(_profile_param(True), SECRET_PARAM)
    names = []
    for field in TEMPLATES:
        try:
            names += placeholders(str(info[field])) if info.get(field) is not None else []
        except ValueError:
            continue
    extra = [_value_param(n, "this node's command templates") for n in dict.fromkeys(names)
             if n not in BUILTINS and n not in _INLINE_SCHEMA]
    return _INLINE_SCHEMA + params.Schema(*extra)


# -- the interface -------------------------------------------------------------

@dataclasses.dataclass
class Settings:
    """What one node's commands are: the typed fields, their values, how to name them."""

    fields: dict
    values: dict
    label: Callable[[str], str]
    profile: str | None = None

    def __getitem__(self, field):
        return self.fields[field]

    @property
    def timeout(self):
        return self.fields["command_timeout"] or CONF.command.command_timeout


def _node_error(task, problems):
    return exception.InvalidParameterValue(
        "Node %s: invalid driver_info %s. Fix with 'hwdrivers node set <node> "
        "--driver-info <field>=<value>'." % (task.node.uuid, "; ".join(problems)),
        errors=problems)


class CommandPower(base.PowerInterface):
    """Power a node by running the commands of its profile.

    One controller per SSH target (``ssh:<user>@<host>:<port>``) or one for
    the conductor host (``local``), limited by ``[command] max_concurrency``
    (default 1) and ``min_command_interval``. The key names the host, not
    the driver, because the host is what a flood would hurt.
    """

    driver_info_schema = SCHEMA

    def driver_info_schema_for(self, driver_info):
        return schema_for(driver_info)

    # -- settings --------------------------------------------------------------

    def parse_driver_info(self, task):
        """The node's :class:`Settings` after every check; raises listing all problems."""
        raw = task.node.driver_info or {}
        if raw.get(PROFILE_FIELD) not in (None, ""):
            return self._parse_profile(task, raw)
        inline = [f for f in TEMPLATES if raw.get(f) is not None]
        defined = ", ".join(command_profile.profile_names(CONF)) or "none"
        if not inline:
            raise exception.MissingParameterValue(
                "Node %s: missing required driver_info field command_profile: the name of "
                "a command profile the operator defined in the conductor's configuration "
                "(defined: %s). Fix with 'hwdrivers node set <node> --driver-info "
                "command_profile=<name>' and the values of its placeholders."
                % (task.node.uuid, defined), errors=["command_profile is missing"])
        if not CONF.command.allow_node_templates:
            raise exception.InvalidParameterValue(
                "Node %s: driver_info holds command templates (%s), which [command] "
                "allow_node_templates = false refuses: whoever can edit a node would "
                "choose what the conductor runs. Fix: have the operator define the "
                "commands in a [command_profile:<name>] group of the conductor's "
                "configuration (defined: %s), then set driver_info command_profile=<name> "
                "with the values of its placeholders and unset %s; or set [command] "
                "allow_node_templates = true if every API user may run commands as the "
                "conductor's user." % (task.node.uuid, ", ".join(inline), defined,
                                       ", ".join(inline)),
                errors=["field %s is an inline command template" % f for f in inline])
        return self._parse_inline(task, raw)

    def _secrets(self, task):
        secrets = {SECRET_FIELD}
        if getattr(task, "driver", None) is not None:
            secrets |= task.driver.schema.secret_names
        return secrets

    def _parse_profile(self, task, raw):
        name = str(raw[PROFILE_FIELD])
        conflicting = [f for f in INLINE_FIELDS if raw.get(f) is not None]
        if conflicting:
            raise _node_error(task, [
                "field(s) %s cannot be set with command_profile: profile %s defines the "
                "commands and where they run; unset them" % (", ".join(conflicting), name)])
        # Refuses an undefined profile (listing the defined ones) and missing values.
        values = schema_for(raw).parse(raw, node=task.node.uuid, check_unknown=False)
        try:
            profile = load_profile(name)
        except exception.ConfigInvalid as exc:
            raise exception.DriverSettingsError(
                "command profile %s is unusable, fix the conductor's configuration: %s"
                % (name, exc)) from None
        secret_problem = self._secret_problem(values[SECRET_FIELD])
        if secret_problem:
            raise _node_error(task, [secret_problem])
        fields = dict(profile.fields, command_secret=values[SECRET_FIELD])
        template_values = {p: values[p] for p in profile.placeholders}
        template_values.update(self._builtins(task))
        return Settings(fields, template_values, profile.label, profile=name)

    def _parse_inline(self, task, raw):
        typed = _INLINE_SCHEMA.parse(raw, node=task.node.uuid, check_unknown=False)
        template_values = {k: v for k, v in raw.items() if v is not None}
        template_values.update({k: v for k, v in typed.items() if v is not None})
        template_values.update(self._builtins(task))

        def label(field):
            return "field %s" % field
        problems, _ = _template_problems(typed, label, self._secrets(task), template_values)
        present = {k for k, v in raw.items() if v is not None}
        problems += _settings_problems(typed, present, label, "set command_host")
        texts = [text for _, text in problems]
        secret_problem = self._secret_problem(typed[SECRET_FIELD])
        if secret_problem:
            texts.append(secret_problem)
        if texts:
            raise _node_error(task, texts)
        return Settings(typed, template_values, label)

    @staticmethod
    def _builtins(task):
        return {"name": task.node.name or "", "uuid": task.node.uuid}

    @staticmethod
    def _secret_problem(secret):
        if secret is not None and ("\n" in secret or "\0" in secret or "\r" in secret):
            return ("field command_secret holds a line break or NUL byte, which cannot "
                    "pass through the environment: store a one-line secret")
        return None

    def validate(self, task):
        self.parse_driver_info(task)

    def check_config(self):
        """Load and check every command profile; warn when ssh is missing.

        A bad profile stops start-up with ConfigInvalid naming its group and
        option. A missing ssh client is only a warning: nodes with local
        commands need no ssh, and refusing to start would take every other
        driver down too (calls over SSH then fail with DriverToolMissing).
        """
        load_profiles()
        if shutil.which(CONF.command.ssh_command) is None:
            LOG.warning("[command] ssh_command %s is not installed or not executable; "
                        "command nodes run over SSH will fail with a tool-missing error "
                        "until it is (apt install openssh-client)",
                        CONF.command.ssh_command)

    @staticmethod
    def _target(info):
        if info["command_host"] is None:
            return None
        return ssh.Target(info["command_host"], info["command_port"], info["command_user"],
                          info["command_ssh_key"], info["command_known_hosts"])

    # -- controllers -------------------------------------------------------------

    def controller_key(self, task):
        raw = task.node.driver_info or {}
        fields = raw
        if raw.get(PROFILE_FIELD) not in (None, ""):
            profile = _profile_or_none(str(raw[PROFILE_FIELD]))
            if profile is None:
                return "command_profile:%s" % raw[PROFILE_FIELD]
            fields = profile.fields
        host = fields.get("command_host")
        if not host:
            return "local"
        try:
            port = params.Param("port", "", type="port").parse(
                fields.get("command_port") or 22)
        except ValueError:
            return "ssh:%s" % host
        return "ssh:%s@%s:%s" % (fields.get("command_user") or getpass.getuser(), host, port)

    def controller_limits(self):
        return base.ControllerLimits(CONF.command.max_concurrency,
                                     CONF.command.min_command_interval)

    def retry_timeout(self):
        return CONF.command.command_retry_timeout

    # -- running -----------------------------------------------------------------

    def _run(self, task, info, field, deadline=None):
        """Run the command in ``field``; return the :class:`ssh.Result`.

        It may run for the command timeout, or until ``deadline``
        (monotonic) when that comes first. Raises the taxonomy error for a
        failure to run; a non-zero exit is returned for the caller to judge.
        """
        command = render(info[field], info.values)
        secret = info["command_secret"]
        target = self._target(info)
        timeout = info.timeout
        limit = "command timeout"
        if deadline is not None and deadline - time.monotonic() < timeout:
            timeout = max(0.1, deadline - time.monotonic())
            limit = "what was left of the command timeout a reboot's off, delay and on share"
        stdin = None
        if target is None:
            where = "the conductor host"
            argv = ["sh", "-c", command]
            env = environment.minimal({SECRET_ENV: secret} if secret is not None else None)
        else:
            where = str(target)
            if secret is not None:
                stdin = secret + "\n"
            argv = ssh.client_argv(target, remote_command(command, timeout, secret is not None),
                                   timeout)
            env = environment.minimal(keep=("SSH_AUTH_SOCK",))
        task.logger.debug("running %s on %s: %s", info.label(field), where, command)
        try:
            result = ssh.run_process(argv, input=stdin, env=env, timeout=timeout)
        except FileNotFoundError:
            if target is None:
                raise exception.DriverToolMissing(
                    "%s not found: the conductor host needs a POSIX shell to run "
                    "local commands" % argv[0]) from None
            raise exception.DriverToolMissing(
                "%s is not installed: install the OpenSSH client (openssh-client) or set "
                "[command] ssh_command" % argv[0]) from None
        except ssh.ProcessTimeout as exc:
            name = info.label(field)
            if target is not None:
                raise exception.DriverConnectionError(
                    "%s on %s did not finish within %.1fs (%s); killed the ssh "
                    "client%s" % (name, where, timeout, limit, _detail(exc.stderr, secret))
                ) from None
            raise exception.DriverActionError(
                "%s did not finish within %.1fs (%s); killed it and everything "
                "it started%s" % (name, timeout, limit, _detail(exc.stderr, secret))) from None
        except OSError as exc:
            raise exception.DriverToolMissing("cannot run %s: %s" % (argv[0], exc)) from None
        if target is not None:
            # A remote command may exit 255 too; its stderr may hold the secret.
            ssh.raise_for_ssh_failure(result._replace(stderr=_redact(result.stderr, secret)),
                                      target)
        return result

    def _check(self, result, info, field):
        if result.returncode == 0:
            return
        target = self._target(info)
        where = "on %s " % (target,) if target is not None else ""
        message = "%s %sexited %d%s" % (info.label(field), where, result.returncode,
                                        _detail(result.stderr, info["command_secret"]))
        if result.returncode in (126, 127):
            raise exception.DriverSettingsError(
                message + " (command not found or not executable: fix %s)"
                % info.label(field))
        raise exception.DriverActionError(message)

    def _act(self, task, info, field, resting, deadline=None):
        self._check(self._run(task, info, field, deadline), info, field)
        task.node.driver_internal_info = dict(task.node.driver_internal_info or {},
                                              **{STATE_KEY: resting.value})

    # -- the power interface -----------------------------------------------------

    def get_power_state(self, task):
        info = self.parse_driver_info(task)
        if info["command_power_status"] is None:
            recorded = (task.node.driver_internal_info or {}).get(STATE_KEY)
            if recorded:
                return PowerState.parse(recorded)
            task.logger.warning(
                "power state unknown: %s is unset, and no power action was recorded yet "
                "(set it, or power the node on or off once)",
                info.label("command_power_status"))
            return PowerState.ERROR
        result = self._run(task, info, "command_power_status")
        return self._parse_status(result, info)

    def _parse_status(self, result, info):
        field = "command_power_status"
        on_code = info["command_status_on_exit_code"]
        if on_code is not None:
            off_code = info["command_status_off_exit_code"]
            if result.returncode == on_code:
                return PowerState.ON
            if result.returncode == off_code or (
                    off_code is None and result.returncode not in _NEVER_STATE):
                return PowerState.OFF
            if result.returncode in (126, 127):
                self._check(result, info, field)  # not found: a settings error
            raise exception.DriverActionError(
                "%s exited %d, which is neither %s (%d) nor %s (%s)%s" % (
                    info.label(field), result.returncode,
                    info.label("command_status_on_exit_code"), on_code,
                    info.label("command_status_off_exit_code"),
                    "unset: any code but 126, 127, 255" if off_code is None else off_code,
                    _detail(result.stderr, info["command_secret"])))
        self._check(result, info, field)
        flags = re.IGNORECASE | re.MULTILINE
        if re.search(info["command_status_on_pattern"], result.stdout, flags):
            return PowerState.ON
        if re.search(info["command_status_off_pattern"], result.stdout, flags):
            return PowerState.OFF
        raise exception.DriverActionError(
            "%s printed %r, which matches neither %s (%s) nor %s (%s)" % (
                info.label(field), _redact(ssh.tail(result.stdout, lines=3, chars=200),
                                           info["command_secret"]),
                info.label("command_status_on_pattern"), info["command_status_on_pattern"],
                info.label("command_status_off_pattern"),
                info["command_status_off_pattern"]))

    def set_power_state(self, task, power_state, timeout=None):
        power_state = PowerState.parse(power_state)
        if power_state == PowerState.REBOOT:
            return self.reboot(task, timeout)
        if power_state not in (PowerState.ON, PowerState.OFF):
            raise exception.InvalidPowerState(
                "Node %s: the command driver cannot do %s; supported: power on, power "
                "off, rebooting" % (task.node.uuid, power_state.value))
        info = self.parse_driver_info(task)
        if power_state == PowerState.ON:
            self._act(task, info, "command_power_on", PowerState.ON)
        else:
            self._act(task, info, "command_power_off", PowerState.OFF)

    def reboot(self, task, timeout=None):
        """The reboot command, or off, delay, on, all within one command timeout."""
        info = self.parse_driver_info(task)
        if info["command_reboot"] is not None:
            self._act(task, info, "command_reboot", PowerState.ON)
            return
        delay = info["command_reboot_delay"]
        if delay >= info.timeout:
            raise exception.DriverSettingsError(
                "rebooting is power off, %s (%ss), power on, all within one command "
                "timeout (%.1fs), so it could never power on: lower the delay, raise the "
                "timeout or set %s" % (info.label("command_reboot_delay"), delay,
                                       info.timeout, info.label("command_reboot")))
        deadline = time.monotonic() + info.timeout
        self._act(task, info, "command_power_off", PowerState.OFF, deadline)
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        if deadline - time.monotonic() < 0.1:
            raise exception.DriverActionError(
                "%s powered the node off, but the command timeout (%.1fs) ran out before "
                "%s could run: raise the timeout, lower %s or set %s" % (
                    info.label("command_power_off"), info.timeout,
                    info.label("command_power_on"), info.label("command_reboot_delay"),
                    info.label("command_reboot")))
        self._act(task, info, "command_power_on", PowerState.ON, deadline)

    def get_supported_power_states(self, task):
        return [PowerState.ON, PowerState.OFF, PowerState.REBOOT]


def _redact(text, secret):
    return text.replace(secret, params.MASK) if secret else text


def _detail(stderr, secret):
    text = _redact(ssh.tail(stderr), secret)
    return ": %s" % text if text else ""
