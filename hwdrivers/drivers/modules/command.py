"""Power through commands the operator defines, run locally or over SSH.

The generic controller of otto's ``CommandPowerController``: commands that
switch a machine on and off (a hypervisor's ``virsh start {vm}``, a jump
host's ``ipmitool``, a relay script) and optionally one that reports its
state, run on the conductor host or, over OpenSSH (:mod:`.ssh`), on a
controller host.

Who writes a command. The operator: commands live in the conductor's
configuration as named profiles (``[command_profile:libvirt]``, see
:mod:`.command_settings`), loaded and checked at start-up. A
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
comment start: see :mod:`.shell_template`) is refused. ``{{`` and ``}}`` are
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

import getpass
import logging
import math
import re
import shlex
import shutil
import signal
import time


from hwdrivers.common import environment
from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.common.states import PowerState
from hwdrivers.conf import CONF
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import command_settings as settings
from hwdrivers.drivers.modules import shell_template
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.modules.command_settings import SECRET_ENV

LOG = logging.getLogger(__name__)

STATE_KEY = "command_power_state"
# Exit codes that never mean "off": not executable, not found, ssh's own failure.
_NEVER_STATE = (126, 127, 255)


def _signal(returncode):
    """The signal that killed the command, or None.

    Negative: a local command killed by it (subprocess's convention);
    129-192: a shell's 128 + N for a child it ran that died of signal N (the
    remote shell, or ``sh -c`` running a pipeline). A status tool that
    crashed (SIGSEGV) or was killed (SIGKILL by the OOM killer) said
    nothing about the machine, so it is never read as "off".
    """
    if returncode < 0:
        number = -returncode
    elif 128 < returncode <= 128 + 64:
        number = returncode - 128
    else:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % number


def _exited(returncode):
    """How a command ended, for a message: ``exited 3``, ``was killed by SIGSEGV (139)``."""
    name = _signal(returncode)
    if name is None:
        return "exited %d" % returncode
    return "was killed by %s (exit status %d)" % (name, returncode)


def remote_command(command, timeout, with_secret):
    """The one string ssh gives the remote login shell to run ``command``.

    ssh joins its remote arguments with spaces for the remote shell, so
    the command travels as one string, quoted once more here, and runs as
    ``sh -c <command>`` exactly as it does locally. Where the host has
    coreutils' ``timeout`` it wraps the command and kills its process
    group a second after our deadline: killing the local ssh client cannot
    stop a hung remote command. With a secret, the remote shell first reads
    it from stdin into the environment, so it never sits in an argv.

    The words are built with ``set --`` and run as ``"$@"``, never from an
    unquoted variable: zsh (a login shell some users choose) does not split
    one, so ``exec $t sh -c ...`` ran a program named ``timeout -s KILL 31``
    there, and every command failed as "not found".
    """
    parts = []
    if with_secret:
        parts.append("IFS= read -r %s; export %s" % (SECRET_ENV, SECRET_ENV))
    parts.append("set -- sh -c %s" % shlex.quote(command))
    parts.append("command -v timeout >/dev/null 2>&1 && set -- timeout -s KILL %d \"$@\""
                 % (math.ceil(timeout) + 1))
    parts.append('exec "$@"')
    return "; ".join(parts)


# -- the interface -------------------------------------------------------------

class CommandPower(base.PowerInterface):
    """Power a node by running the commands of its profile.

    One controller per SSH target (``ssh:<user>@<host>:<port>``) or one for
    the conductor host (``local``), limited by ``[command] max_concurrency``
    (default 1) and ``min_command_interval``. The key names the host, not
    the driver, because the host is what a flood would hurt.
    """

    driver_info_schema = settings.SCHEMA
    driver_info_schema_depends_on = settings.DEPENDS_ON
    config_group = "command"
    #: What every command node can do, declared: no command runs to find out.
    power_states = (PowerState.ON, PowerState.OFF, PowerState.REBOOT)

    def driver_info_schema_for(self, driver_info):
        return settings.schema_for(driver_info)

    def parse_driver_info(self, task):
        """The node's :class:`.command_settings.Settings`; raises listing all problems."""
        return settings.parse(task.node,
                              settings.declared_secrets(getattr(task, "driver", None)))

    def validate(self, task):
        self.parse_driver_info(task)

    def check_config(self):
        """Load and check every command profile; warn when ssh is missing.

        A bad profile stops start-up with ConfigInvalid naming its group and
        option. A missing ssh client is only a warning: nodes with local
        commands need no ssh, and refusing to start would take every other
        driver down too (calls over SSH then fail with DriverToolMissing).
        """
        settings.load_profiles()
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
        name = raw.get(settings.PROFILE_FIELD)
        if name not in (None, ""):
            profile = settings.profile_or_none(str(name))
            if profile is None:
                return "command_profile:%s" % name
            fields = profile.fields
        host = fields.get("command_host")
        if not host:
            return "local"
        try:
            # As a profile's host is read: one queue per host, however spelt
            # ([fd00::1], fd00::1, fd00:0::0001).
            host = params.parse_address(host)
        except ValueError:
            pass  # validate names the field; the key stays what the node says
        try:
            port = params.Param("port", "", type="port").parse(
                fields.get("command_port") or 22)
        except ValueError:
            return "ssh:%s" % host
        return "ssh:%s@%s:%s" % (fields.get("command_user") or getpass.getuser(), host, port)

    # -- running -----------------------------------------------------------------

    def _run(self, task, info, field, deadline=None):
        """Run the command in ``field``; return the :class:`ssh.Result`.

        It may run for the command timeout, or until ``deadline``
        (monotonic) when that comes first. Raises the taxonomy error for a
        failure to run; a non-zero exit is returned for the caller to judge.
        """
        command = shell_template.render(info[field], info.values)
        secret = info["command_secret"]
        target = self._target(info)
        timeout = info.timeout
        limit = "command timeout"
        if deadline is not None and deadline - time.monotonic() < timeout - 0.1:
            timeout = max(0.1, deadline - time.monotonic())
            limit = "what was left of the command timeout a reboot's off, delay and on share"
        elif deadline is not None:
            timeout = max(0.1, min(timeout, deadline - time.monotonic()))
        stdin = log = None
        if target is None:
            where = "the conductor host"
            argv = ["sh", "-c", command]
            env = environment.minimal({SECRET_ENV: secret} if secret is not None else None)
        else:
            where = str(target)
            if secret is not None:
                stdin = secret + "\n"
            # ssh's own messages apart from the remote command's stderr: see
            # ssh.new_client_log.
            log = ssh.new_client_log()
            argv = ssh.client_argv(target, remote_command(command, timeout, secret is not None),
                                   timeout, log=log)
            env = environment.minimal(keep=("SSH_AUTH_SOCK",))
        # One line: a node's value (an API user's text) may hold a line break.
        task.logger.debug("running %s on %s: %s", info.label(field), where,
                          log_text.printable(command))
        try:
            try:
                # Locally the command is done when its shell exits, whatever it left
                # running; over SSH, when ssh ends (the remote sshd sees to its side).
                result = ssh.run_process(argv, input=stdin, env=env, timeout=timeout,
                                         end_at_exit=target is None)
            finally:
                ssh_said = ssh.take_client_log(log)
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
                # Its shared connection may be the one silently dead: retire it.
                ssh.retire_master(target)
                raise exception.DriverConnectionError(
                    "%s on %s did not finish within %.1fs (%s); killed the ssh "
                    "client, and the next command opens a new connection%s"
                    % (name, where, timeout, limit,
                       _detail(_joined(exc.stderr, ssh_said), secret))) from None
            raise exception.DriverActionError(
                "%s did not finish within %.1fs (%s); killed it and everything "
                "it started%s" % (name, timeout, limit, _detail(exc.stderr, secret))) from None
        except ssh.OutputLimit as exc:
            # Over ssh only the client is ours to kill: the remote command
            # loses its channel and ends on its next write (SIGPIPE).
            stopped = ("killed it and everything it started" if target is None else
                       "killed the ssh client, which closes the command's channel")
            raise exception.DriverActionError(
                "%s%s printed more than %d bytes on stdout or stderr; %s (a command "
                "answers in a few lines: check it does not follow a log or read a "
                "console)%s"
                % (info.label(field), "" if target is None else " on %s" % where,
                   ssh.MAX_OUTPUT, stopped,
                   _detail(_joined(exc.stderr, ssh_said), secret))) from None
        except OSError as exc:
            raise exception.DriverToolMissing("cannot run %s: %s" % (argv[0], exc)) from None
        if target is not None:
            # A remote command may exit 255 too: only ssh's own messages say
            # whether ssh failed. They may quote the command, and so the secret.
            said = params.redact(ssh_said, [secret])
            ssh.raise_for_ssh_failure(result._replace(stderr=said), target, info.label)
        return result

    def _check(self, result, info, field):
        if result.returncode == 0:
            return
        target = self._target(info)
        where = "on %s " % (target,) if target is not None else ""
        message = "%s %s%s%s" % (info.label(field), where, _exited(result.returncode),
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
                    off_code is None and result.returncode not in _NEVER_STATE
                    and _signal(result.returncode) is None):
                return PowerState.OFF
            if result.returncode in (126, 127):
                self._check(result, info, field)  # not found: a settings error
            raise exception.DriverActionError(
                "%s %s, which is neither %s (%d) nor %s (%s)%s" % (
                    info.label(field), _exited(result.returncode),
                    info.label("command_status_on_exit_code"), on_code,
                    info.label("command_status_off_exit_code"),
                    "unset: any code but 126, 127, 255 and a killed command's, above 128"
                    if off_code is None else off_code,
                    _detail(result.stderr, info["command_secret"])))
        self._check(result, info, field)
        flags = re.IGNORECASE | re.MULTILINE
        if re.search(info["command_status_on_pattern"], result.stdout, flags):
            return PowerState.ON
        if re.search(info["command_status_off_pattern"], result.stdout, flags):
            return PowerState.OFF
        raise exception.DriverActionError(
            "%s printed %r, which matches neither %s (%s) nor %s (%s)" % (
                info.label(field), ssh.tail(params.redact(result.stdout,
                                                          [info["command_secret"]]),
                                            lines=3, chars=200),
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


def _joined(stderr, ssh_said):
    """The remote command's stderr, then what ssh itself said, for a message."""
    return "\n".join(text.strip() for text in (stderr, ssh_said) if text.strip())


def _detail(stderr, secret):
    """The tail of a command's stderr for a message, the secret masked, on one line.

    Masked before the cut: a cut through the middle of the secret would
    leave its end unmatched, and shown. Its line breaks and other control
    characters are escaped (``\n``): the stderr may echo a node's value
    (``virsh: no domain '<vm>'``), which an API user chose, and the message
    is logged on every retry, where a raw line break would start a forged
    log line.
    """
    text = log_text.printable(ssh.tail(params.redact(stderr, [secret])))
    return ": %s" % text if text else ""
