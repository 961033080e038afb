"""Power through commands the operator configures, run locally or over SSH.

The generic controller of otto's ``CommandPowerController``: a node's
driver_info holds the commands that switch it on and off (a hypervisor's
``virsh start {vm}``, a jump host's ``ipmitool``, a PDU script) and
optionally one that reports its state. ``command_host`` names the host the
commands run on (over OpenSSH, see :mod:`.ssh`); unset, they run on the
conductor host, which ``[command] allow_local_commands`` must allow.

Templates. Commands are templates with ``{name}``, ``{uuid}`` and
``{<driver_info field>}`` placeholders. Each placeholder becomes one
``shlex.quote``-d word, so no field value can add shell syntax; a
placeholder where that quoting would be undone (inside quotes or
backticks, after a backslash, in a here-document: see
:func:`placeholders`) is refused. ``{{`` and ``}}`` are literal braces.
The result runs as ``sh -c <command>``, locally or on the SSH host (see
:func:`remote_command`: ssh hands the remote shell one string, so it is
quoted once more), under the remote ``timeout`` when the host has it.

Secrets. Templates cannot name a declared secret (it would end up in a
process's argv, visible to every user of the host). The one secret this
driver takes, ``command_secret``, reaches the command as the environment
variable ``HWDRIVERS_COMMAND_SECRET``: through the environment locally,
through ssh's stdin (read by the remote shell before the command) over SSH.

State. With ``command_power_status`` the state is read from its output
(regexes) or its exit code. Without it the hardware cannot be asked, so
``get_power_state`` returns the last state this driver set, recorded in
``driver_internal_info["command_power_state"]``, or ``PowerState.ERROR``
(with a warning saying why) before the first power action.
"""

import getpass
import logging
import math
import os
import re
import shlex
import shutil
import string
import time

from oslo_config import cfg

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import ssh

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

SECRET_ENV = "HWDRIVERS_COMMAND_SECRET"
STATE_KEY = "command_power_state"

TEMPLATES = ("command_power_on", "command_power_off", "command_power_status",
             "command_reboot")
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


def _scan(literal, stack, state):
    """Advance the shell quoting ``stack`` over ``literal`` (text without placeholders).

    The stack holds the open contexts: ``'``, ``"``, `````, ``$(`` and ``(``
    (the last two are unquoted). ``state`` records a pending backslash and
    whether an unquoted ``<<`` (here-document) was seen.
    """
    i = 0
    state["escaped"] = False
    while i < len(literal):
        char = literal[i]
        top = stack[-1] if stack else None
        if top == "'":
            if char == "'":
                stack.pop()
        elif char == "\\":
            if i + 1 == len(literal):
                state["escaped"] = True
            i += 1
        elif top == '"':
            if char == '"':
                stack.pop()
            elif literal.startswith("$(", i):
                stack.append("$(")
                i += 1
            elif char == "`":
                stack.append("`")
        elif top == "`" and char == "`":
            stack.pop()
        elif char in "'\"`":
            stack.append(char)
        elif literal.startswith("$(", i):
            stack.append("$(")
            i += 1
        elif char == "(":
            stack.append("(")
        elif char == ")" and top in ("$(", "("):
            stack.pop()
        elif literal.startswith("<<", i):
            if literal.startswith("<<<", i):
                i += 2
            else:
                state["heredoc"] = True
                i += 1
        i += 1


def placeholders(template):
    """Placeholder names of ``template``; ValueError saying what is wrong.

    Only bare ``{field}`` is allowed (no ``{a.b}``, ``{a[0]}``, ``{a!r}``,
    ``{a:>9}``). Each becomes one single-quoted shell word, which is safe
    only where the shell parses words: so a placeholder is refused inside
    quotes (the value's own quotes would close them), inside backticks
    (whose end the shell finds before honouring quotes), right after a
    backslash (which would escape the opening quote) and after a
    here-document ``<<`` (whose body expands ``$(...)`` even in quotes).
    Inside ``$(...)``, also within double quotes, words are parsed again,
    so ``test "$(cat {file})" = on`` is fine.
    """
    names = []
    stack = []
    state = {"escaped": False, "heredoc": False}
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
        if "`" in stack:
            raise ValueError("puts {%s} inside backticks: write $(...) instead" % field)
        if stack and stack[-1] in ("'", '"'):
            raise ValueError("puts {%s} inside %s: remove the quotes, every placeholder "
                             "is quoted for the shell already" % (
                                 field, _QUOTE_NAMES[stack[-1]]))
        if state["escaped"]:
            raise ValueError("puts a backslash right before {%s}: remove it" % field)
        if literal.endswith("$"):
            raise ValueError("puts $ right before {%s}: a placeholder is a value, not a "
                             "variable name (write ${{VAR}} for a shell variable)" % field)
        if state["heredoc"]:
            raise ValueError("uses {%s} after a here-document (<<), whose body would "
                             "expand $(...) in the value: pass it as an argument" % field)
        names.append(field)
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


def _template_values(task, info):
    values = {k: v for k, v in (task.node.driver_info or {}).items() if v is not None}
    values.update({k: v for k, v in info.items() if v is not None})
    values["name"] = task.node.name or ""
    values["uuid"] = task.node.uuid
    return values


def _local_path_problem(field, value):
    if not _SAFE_PATH.match(value):
        return ("field %s must be an absolute path of letters, digits and ./_+@,:=- "
                "(got %r)" % (field, value))
    if not os.path.isfile(value):
        return "field %s: no file %s on the conductor host" % (field, value)
    return None


# -- the interface -------------------------------------------------------------

class CommandPower(base.PowerInterface):
    """Power a node by running its configured commands.

    One controller per SSH target (``ssh:<user>@<host>:<port>``) or one for
    the conductor host (``local``), limited by ``[command] max_concurrency``
    (default 1) and ``min_command_interval``. The key names the host, not
    the driver, because the host is what a flood would hurt.
    """

    driver_info_schema = params.Schema(
        params.Param("command_power_on", "Command that powers the node on (a template: "
                     "{name}, {uuid}, {<driver_info field>})", required=True),
        params.Param("command_power_off", "Command that powers the node off (a template)",
                     required=True),
        params.Param("command_power_status",
                     "Command that reports the power state (a template); unset: the "
                     "state is the last one this driver set"),
        params.Param("command_reboot", "Command that power cycles the node (a template); "
                     "unset: power off, wait command_reboot_delay, power on"),
        params.Param("command_reboot_delay", "Seconds between off and on when rebooting "
                     "without command_reboot", type="float", default=5.0, min=0),
        params.Param("command_status_on_pattern",
                     "Regular expression (searched, case-insensitive, ^ and $ match at "
                     "each line) whose match in the status output means on",
                     default=DEFAULT_ON_PATTERN),
        params.Param("command_status_off_pattern",
                     "Regular expression whose match in the status output means off "
                     "(tried after the on pattern; '.*' makes any other output off)",
                     default=DEFAULT_OFF_PATTERN),
        params.Param("command_status_on_exit_code",
                     "Read the state from the status command's exit code instead of its "
                     "output: this code means on", type="int", min=0, max=254),
        params.Param("command_status_off_exit_code",
                     "With command_status_on_exit_code: this code means off (unset: any "
                     "other code but 126, 127 and 255)", type="int", min=0, max=254),
        params.Param("command_host", "Host the commands run on over SSH; unset: the "
                     "conductor host (needs [command] allow_local_commands)",
                     type="address"),
        params.Param("command_port", "SSH port of command_host", type="port", default=22),
        params.Param("command_user", "SSH user on command_host (unset: the conductor's "
                     "user)"),
        params.Param("command_ssh_key", "Path of the SSH private key on the conductor host "
                     "(unset: ssh's default keys)"),
        params.Param("command_known_hosts", "Path of the known_hosts file holding "
                     "command_host's key; host keys are always checked (unset: "
                     "~/.ssh/known_hosts)"),
        params.Param("command_timeout", "Seconds one command may run before it is killed "
                     "with everything it started (unset: [command] command_timeout)",
                     type="float", min=0.1),
        params.Param("command_secret", "A secret the commands read from the environment "
                     "variable %s; templates cannot name it" % SECRET_ENV, secret=True),
    )

    # -- settings --------------------------------------------------------------

    def parse_driver_info(self, task):
        """Typed driver_info after every check; raises listing all problems."""
        info = super().parse_driver_info(task)
        raw = task.node.driver_info or {}
        errors = []
        secrets = set(self.driver_info_schema.secret_names)
        if getattr(task, "driver", None) is not None:
            secrets |= task.driver.schema.secret_names
        values = _template_values(task, info)
        for field in TEMPLATES:
            if info[field] is None:
                continue
            try:
                names = placeholders(info[field])
            except ValueError as exc:
                errors.append("field %s %s" % (field, exc))
                continue
            for name in names:
                if name in secrets:
                    errors.append("field %s names the secret {%s}: a secret in a command "
                                  "line is visible to every user of the host; read it from "
                                  "$%s (command_secret) instead" % (field, name, SECRET_ENV))
                elif name in values and "\0" in str(values[name]):
                    errors.append("field %s uses {%s}, whose value holds a NUL byte, "
                                  "which no command line can carry: fix %s"
                                  % (field, name, name))
                elif name not in values:
                    errors.append("field %s uses {%s}, which is not in driver_info: add "
                                  "it, or use {name}, {uuid} or another field"
                                  % (field, name))
        secret = info["command_secret"]
        if secret is not None and ("\n" in secret or "\0" in secret or "\r" in secret):
            errors.append("field command_secret holds a line break or NUL byte, which "
                          "cannot pass through the environment: store a one-line secret")
        for field in ("command_status_on_pattern", "command_status_off_pattern"):
            try:
                re.compile(info[field])
            except re.error as exc:
                errors.append("field %s is not a valid regular expression: %s" % (field, exc))
        status_set = [f for f in _STATUS_FIELDS if raw.get(f) is not None]
        if status_set and info["command_power_status"] is None:
            errors.append("field(s) %s need command_power_status" % ", ".join(status_set))
        if info["command_status_on_exit_code"] is None:
            if info["command_status_off_exit_code"] is not None:
                errors.append("field command_status_off_exit_code needs "
                              "command_status_on_exit_code")
        elif any(raw.get(f) is not None for f in _STATUS_FIELDS[:2]):
            errors.append("fields command_status_on_exit_code and command_status_*_pattern "
                          "exclude each other: read the state from the exit code or from "
                          "the output")
        if info["command_host"] is None:
            ssh_set = [f for f in _SSH_FIELDS if raw.get(f) is not None]
            if ssh_set:
                errors.append("field(s) %s only apply with command_host" % ", ".join(ssh_set))
            if not CONF.command.allow_local_commands:
                errors.append("command_host is unset and running commands on the conductor "
                              "host is disabled: set command_host, or set [command] "
                              "allow_local_commands = true")
        else:
            if info["command_user"] is not None and not _USER.match(info["command_user"]):
                errors.append("field command_user %r must be letters, digits and ._- "
                              % info["command_user"])
            for field in ("command_ssh_key", "command_known_hosts"):
                if info[field] is not None:
                    problem = _local_path_problem(field, info[field])
                    if problem:
                        errors.append(problem)
        if errors:
            raise exception.InvalidParameterValue(
                "Node %s: invalid driver_info %s. Fix with 'hwdrivers node set <node> "
                "--driver-info <field>=<value>'." % (task.node.uuid, "; ".join(errors)),
                errors=errors)
        return info

    def validate(self, task):
        self.parse_driver_info(task)

    def check_config(self):
        """A missing ssh client is reported per call (DriverToolMissing), not at start.

        Nodes with local commands need no ssh, and refusing to start would
        take every other driver down too; so only warn here.
        """
        if shutil.which(CONF.command.ssh_command) is None:
            LOG.warning("[command] ssh_command %s is not installed or not executable; "
                        "command nodes with command_host will fail with a tool-missing "
                        "error until it is (apt install openssh-client)",
                        CONF.command.ssh_command)

    def _target(self, info):
        if info["command_host"] is None:
            return None
        return ssh.Target(info["command_host"], info["command_port"], info["command_user"],
                          info["command_ssh_key"], info["command_known_hosts"])

    # -- controllers -------------------------------------------------------------

    def controller_key(self, task):
        host = (task.node.driver_info or {}).get("command_host")
        if not host:
            return "local"
        try:
            info = self.driver_info_schema.parse(task.node.driver_info, check_unknown=False)
        except exception.InvalidParameterValue:
            return "ssh:%s" % host
        return "ssh:%s@%s:%s" % (info["command_user"] or getpass.getuser(),
                                 info["command_host"], info["command_port"])

    def controller_limits(self):
        return base.ControllerLimits(CONF.command.max_concurrency,
                                     CONF.command.min_command_interval)

    def retry_timeout(self):
        return CONF.command.command_retry_timeout

    # -- running -----------------------------------------------------------------

    def _run(self, task, info, field):
        """Run the command in ``field``; return the :class:`ssh.Result`.

        Raises the taxonomy error for a failure to run; a non-zero exit is
        returned for the caller to judge.
        """
        command = render(info[field], _template_values(task, info))
        secret = info["command_secret"]
        target = self._target(info)
        timeout = info["command_timeout"] or CONF.command.command_timeout
        env = None
        stdin = None
        if target is None:
            where = "the conductor host"
            argv = ["sh", "-c", command]
            if secret is not None:
                env = dict(os.environ, **{SECRET_ENV: secret})
        else:
            where = str(target)
            if secret is not None:
                stdin = secret + "\n"
            argv = ssh.client_argv(target, remote_command(command, timeout, secret is not None),
                                   timeout)
        task.logger.debug("running %s on %s: %s", field, where, command)
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
            if target is not None:
                raise exception.DriverConnectionError(
                    "%s on %s did not finish within %ss (command_timeout); killed the ssh "
                    "client%s" % (field, where, timeout, _detail(exc.stderr, secret))
                ) from None
            raise exception.DriverActionError(
                "%s did not finish within %ss (command_timeout); killed it and everything "
                "it started%s" % (field, timeout, _detail(exc.stderr, secret))) from None
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
        where = "on %s " % (self._target(info),) if info["command_host"] else ""
        message = "%s %sexited %d%s" % (field, where, result.returncode,
                                        _detail(result.stderr, info["command_secret"]))
        if result.returncode in (126, 127):
            raise exception.DriverSettingsError(
                message + " (command not found or not executable: fix %s)" % field)
        raise exception.DriverActionError(message)

    def _act(self, task, field, resting):
        info = self.parse_driver_info(task)
        self._check(self._run(task, info, field), info, field)
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
                "power state unknown: no command_power_status, and no power action was "
                "recorded yet (set command_power_status, or power the node on or off once)")
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
                "%s exited %d, which is neither command_status_on_exit_code (%d) nor "
                "command_status_off_exit_code (%s)%s" % (
                    field, result.returncode, on_code,
                    "unset: any code but 126, 127, 255" if off_code is None else off_code,
                    _detail(result.stderr, info["command_secret"])))
        self._check(result, info, field)
        flags = re.IGNORECASE | re.MULTILINE
        if re.search(info["command_status_on_pattern"], result.stdout, flags):
            return PowerState.ON
        if re.search(info["command_status_off_pattern"], result.stdout, flags):
            return PowerState.OFF
        raise exception.DriverActionError(
            "%s printed %r, which matches neither command_status_on_pattern (%s) nor "
            "command_status_off_pattern (%s)" % (
                field, _redact(ssh.tail(result.stdout, lines=3, chars=200),
                               info["command_secret"]),
                info["command_status_on_pattern"], info["command_status_off_pattern"]))

    def set_power_state(self, task, power_state, timeout=None):
        power_state = PowerState.parse(power_state)
        if power_state == PowerState.ON:
            self._act(task, "command_power_on", PowerState.ON)
        elif power_state == PowerState.OFF:
            self._act(task, "command_power_off", PowerState.OFF)
        elif power_state == PowerState.REBOOT:
            self.reboot(task, timeout)
        else:
            raise exception.InvalidPowerState(
                "Node %s: the command driver cannot do %s; supported: power on, power "
                "off, rebooting" % (task.node.uuid, power_state.value))

    def reboot(self, task, timeout=None):
        info = self.parse_driver_info(task)
        if info["command_reboot"] is not None:
            self._act(task, "command_reboot", PowerState.ON)
            return
        self._act(task, "command_power_off", PowerState.OFF)
        time.sleep(info["command_reboot_delay"])
        self._act(task, "command_power_on", PowerState.ON)

    def get_supported_power_states(self, task):
        return [PowerState.ON, PowerState.OFF, PowerState.REBOOT]


def _redact(text, secret):
    return text.replace(secret, params.MASK) if secret else text


def _detail(stderr, secret):
    text = _redact(ssh.tail(stderr), secret)
    return ": %s" % text if text else ""
