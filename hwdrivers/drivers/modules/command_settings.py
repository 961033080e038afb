"""What a command node's commands are: profiles, inline templates, declarations.

The operator's ``[command_profile:<name>]`` groups (options in
:mod:`hwdrivers.conf.command_profile`) are loaded and checked here, at
start-up and on use: a template that could be abused, a missing command or
a bad setting is a ConfigInvalid naming the group and option. A node selects
a profile with driver_info ``command_profile`` and supplies only the values
of its placeholders; :func:`schema_for` declares exactly those fields, so
validation, masking and the refusal of undeclared keys follow the profile.
Templates in driver_info itself (the inline fields) are accepted only with
``[command] allow_node_templates``. :func:`parse` turns a node into the
:class:`Settings` the driver runs, or refuses it listing every problem.
"""

import dataclasses
import difflib
import os
import re
from collections.abc import Callable

from oslo_config import cfg

from hwdrivers.common import exception
from hwdrivers.conf import CONF
from hwdrivers.conf import command_profile
from hwdrivers.drivers import params
from hwdrivers.drivers.modules.shell_template import placeholders


SECRET_ENV = "HWDRIVERS_COMMAND_SECRET"
PROFILE_FIELD = "command_profile"
SECRET_FIELD = "command_secret"

TEMPLATES = ("command_power_on", "command_power_off", "command_power_status",
             "command_reboot", "command_console")
#: What a node's declaration depends on (schema_for): without any of these
#: keys it is the same for every node.
DEPENDS_ON = frozenset((PROFILE_FIELD,) + TEMPLATES)
#: Placeholders every template may use, filled from the node itself.
BUILTINS = ("name", "uuid")
_STATUS_FIELDS = ("command_status_on_pattern", "command_status_off_pattern",
                  "command_status_on_exit_code", "command_status_off_exit_code")
_SSH_FIELDS = ("command_port", "command_user", "command_ssh_key", "command_known_hosts")
#: A login name: also user@domain, as directory-backed hosts (sssd, winbind) name
#: their users; never starting with "-", which ssh would read as an option.
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
# ssh reads these paths through its config parser: no spaces, quotes or % tokens.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9_./+@,:=-]*$")

DEFAULT_ON_PATTERN = r"^\s*on\s*$"
DEFAULT_OFF_PATTERN = r"^\s*off\s*$"


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
            elif name in values and isinstance(values[name], (dict, list)):
                # Rendered with str(), a JSON object or list became a Python
                # repr ({'a': 1}) on the command line, where a profile's
                # placeholder refuses it.
                problems.append((field, "%s uses {%s}, whose value is a JSON %s, not "
                                 "text: set %s to a string" % (
                                     label(field), name, "object" if isinstance(
                                         values[name], dict) else "list", name)))
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
            problems.append(("command_user", "%s %r must be letters, digits and ._@-"
                             % (label("command_user"),
                                params.without_password(info["command_user"]))))
        for field in ("command_ssh_key", "command_known_hosts"):
            if info[field] is None:
                continue
            if not _SAFE_PATH.match(info[field]):
                problems.append((field, "%s must be an absolute path of letters, digits "
                                 "and ./_+@,:=- (got %r)"
                                 % (label(field), params.without_password(info[field]))))
            elif not os.path.isfile(info[field]):
                problems.append((field, "%s: no file %s on the conductor host"
                                 % (label(field), params.without_password(info[field]))))
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


#: Checked profiles by everything their check read; a changed option is a new key.
_checked = {}


def load_profile(name):
    """The checked :class:`Profile` ``name``; ConfigInvalid naming the option if not.

    Every node's declaration depends on its profile, so this runs for each
    node listed or masked: a profile is checked once per version of its
    options (and of the [command] options the check reads), then cached.
    """
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
    in_file = frozenset(command_profile.file_options(CONF, name))
    values = tuple(_read_option(group, name, opt.dest) for opt in command_profile.opts)
    key = (name, in_file, values, CONF.command.allow_local_commands,
           CONF.command.command_timeout)
    profile = _checked.get(key)
    if profile is None:
        profile = _check_profile(name, in_file, values)
        if len(_checked) > 256:  # config reloaded many times: start again
            _checked.clear()
        _checked[key] = profile
    return profile


def _check_profile(name, in_file, values):
    unknown = sorted(in_file - set(command_profile.OPTION_NAMES))
    if unknown:
        close = difflib.get_close_matches(unknown[0], command_profile.OPTION_NAMES, n=1)
        raise _config_error(name, unknown[0], "is not a profile option%s; known: %s" % (
            " (did you mean %s?)" % close[0] if close else "",
            ", ".join(command_profile.OPTION_NAMES)))
    info = {}
    present = set()
    for opt, value in zip(command_profile.opts, values):
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
    timeout = info["command_timeout"] or CONF.command.command_timeout
    if info["command_reboot"] is None and info["command_reboot_delay"] >= timeout:
        problems.append(("command_reboot_delay", (
            "reboot_delay (%ss) is not shorter than the timeout (%ss) that a reboot's "
            "off, delay and on share, so no reboot could ever power on: lower it, raise "
            "timeout or set reboot" % (info["command_reboot_delay"], timeout))))
    if problems:
        where = "[%s]" % command_profile.group_name(name)
        raise exception.ConfigInvalid(
            "%s %s" % (where, "; ".join(text for _, text in problems)),
            option="%s %s" % (where, label(problems[0][0])))
    return Profile(name, info, tuple(names))


def load_profiles():
    """Every defined profile, checked (start-up); ConfigInvalid on the first bad one."""
    return [load_profile(name) for name in command_profile.profile_names(CONF)]


def profile_or_none(name):
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


def _no_nul(value):
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
                     "without command_reboot, at most 3600 (the node stays locked "
                     "meanwhile)." + _INLINE, type="float", default=5.0, min=0, max=3600),
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
                     "other code but 126, 127, 255 and those of a command killed by a "
                     "signal, above 128)." + _INLINE, type="int", min=0, max=254),
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


#: [command] allow_node_templates -> the declaration of a node with no command fields
#: (every node of another driver is asked it when its driver_info is masked).
_WITHOUT_COMMANDS = {}


def _value_param(name, where):
    return params.Param(name, "Value of {%s} in %s" % (name, where), required=True,
                        check=_no_nul)


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
        profile = profile_or_none(str(name))
        if profile is not None:
            declared += [_value_param(p, "the commands of command profile %s" % name)
                         for p in profile.placeholders]
        return params.Schema(*declared)
    for field in TEMPLATES:
        if info.get(field) is not None:
            break
    else:  # neither: the same declaration for every such node, built once
        allow = bool(CONF.command.allow_node_templates)
        schema = _WITHOUT_COMMANDS.get(allow)
        if schema is None:
            schema = _WITHOUT_COMMANDS[allow] = (
                SCHEMA + params.Schema(_profile_param(True)) if allow
                else params.Schema(_profile_param(True), SECRET_PARAM))
        return schema
    names = []
    for field in TEMPLATES:
        try:
            names += placeholders(str(info[field])) if info.get(field) is not None else []
        except ValueError:
            continue
    extra = [_value_param(n, "this node's command templates") for n in dict.fromkeys(names)
             if n not in BUILTINS and n not in _INLINE_SCHEMA]
    return _INLINE_SCHEMA + params.Schema(*extra)


# -- a node's settings -------------------------------------------------------------

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


def _node_error(node, problems):
    return params.driver_info_error(params.Problems(invalid=problems), node.uuid)


def _builtins(node):
    return {"name": node.name or "", "uuid": node.uuid}


def _secret_problem(secret):
    if secret is not None and ("\n" in secret or "\0" in secret or "\r" in secret):
        return ("field command_secret holds a line break or NUL byte, which cannot "
                "pass through the environment: store a one-line secret")
    return None


def declared_secrets(driver):
    """What :func:`parse` must keep off command lines for a task's ``driver``
    (its composition, or None): the fields its interfaces declare secret for
    the node, and every field an enabled interface declares secret."""
    if driver is None:
        return frozenset()
    secrets = set(driver.schema.secret_names)
    registry = getattr(driver, "registry", None)
    if registry is not None:
        secrets |= registry.secret_names
    return secrets


def parse(node, secrets=frozenset()):
    """The :class:`Settings` of ``node``, after every check; raises listing all problems.

    ``secrets`` are the fields declared secret elsewhere (the node's other
    interfaces, every loaded one), which neither an inline template nor a
    profile's placeholder may name: masked in every output and encrypted at
    rest, such a value must not then be put on a command line.
    """
    raw = node.driver_info or {}
    if raw.get(PROFILE_FIELD) not in (None, ""):
        return _parse_profile(node, raw, secrets)
    inline = [f for f in TEMPLATES if raw.get(f) is not None]
    defined = ", ".join(command_profile.profile_names(CONF)) or "none"
    if not inline:
        raise exception.MissingParameterValue(
            errors=["missing required driver_info field command_profile: the name of "
                    "a command profile the operator defined in the conductor's "
                    "configuration (defined: %s)" % defined],
            node=node.uuid, fix="Fix with 'hwdrivers node set <node> --driver-info "
            "command_profile=<name>' and the values of its placeholders.")
    if not CONF.command.allow_node_templates:
        raise exception.InvalidParameterValue(
            "Node %s: driver_info holds command templates (%s), which [command] "
            "allow_node_templates = false refuses: whoever can edit a node would "
            "choose what the conductor runs. Fix: have the operator define the "
            "commands in a [command_profile:<name>] group of the conductor's "
            "configuration (defined: %s), then set driver_info command_profile=<name> "
            "with the values of its placeholders and unset %s; or set [command] "
            "allow_node_templates = true if every API user may run commands as the "
            "conductor's user." % (node.uuid, ", ".join(inline), defined,
                                   ", ".join(inline)),
            errors=["field %s is an inline command template" % f for f in inline])
    return _parse_inline(node, raw, secrets)


def _parse_profile(node, raw, secrets):
    name = str(raw[PROFILE_FIELD])
    conflicting = [f for f in INLINE_FIELDS if raw.get(f) is not None]
    if conflicting:
        raise _node_error(node, [
            "field(s) %s cannot be set with command_profile: profile %s defines the "
            "commands and where they run; unset them" % (", ".join(conflicting), name)])
    # Refuses an undefined profile (listing the defined ones) and missing values.
    values = schema_for(raw).parse(raw, node=node.uuid, check_unknown=False)
    try:
        profile = load_profile(name)
    except exception.ConfigInvalid as exc:
        raise exception.DriverSettingsError(
            "command profile %s is unusable, fix the conductor's configuration: %s"
            % (name, exc)) from None
    named = sorted(set(profile.placeholders) & set(secrets))
    if named:
        raise exception.DriverSettingsError(
            "command profile %s is unusable, fix the conductor's configuration: its "
            "placeholder(s) %s name field(s) another enabled interface declares "
            "secret, and a command line is visible to every user of the host (ps); "
            "pass the secret as the node's command_secret, which the command reads "
            "from $%s, and drop the placeholder"
            % (name, ", ".join("{%s}" % p for p in named), SECRET_ENV))
    problem = _secret_problem(values[SECRET_FIELD])
    if problem:
        raise _node_error(node, [problem])
    fields = dict(profile.fields, command_secret=values[SECRET_FIELD])
    template_values = {p: values[p] for p in profile.placeholders}
    template_values.update(_builtins(node))
    return Settings(fields, template_values, profile.label, profile=name)


def _parse_inline(node, raw, secrets):
    typed = _INLINE_SCHEMA.parse(raw, node=node.uuid, check_unknown=False)
    template_values = {k: v for k, v in raw.items() if v is not None}
    template_values.update({k: v for k, v in typed.items() if v is not None})
    template_values.update(_builtins(node))

    def label(field):
        return "field %s" % field
    problems, _ = _template_problems(typed, label, {SECRET_FIELD} | set(secrets),
                                     template_values)
    present = {k for k, v in raw.items() if v is not None}
    problems += _settings_problems(typed, present, label, "set command_host")
    texts = [text for _, text in problems]
    problem = _secret_problem(typed[SECRET_FIELD])
    if problem:
        texts.append(problem)
    if texts:
        raise _node_error(node, texts)
    return Settings(typed, template_values, label)
