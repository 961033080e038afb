"""``command`` console: the console command of the node's command profile.

For machines whose serial line some program on the conductor host or a
controller host can attach to: ``virsh console --force {vm}`` on a
hypervisor, ``socat - TCP:{serial_host}:{serial_port}`` for a qemu
``-serial tcp:...`` or a terminal server, a vendor tool. The operator
writes it as ``console`` in the ``[command_profile:<name>]`` group the
node's power commands come from (:mod:`.command_settings`): API users
never choose what runs, and the template follows the power templates'
rules (placeholders quoted as one word each, declared as the node's
required fields, no secret on the command line).

The command runs as ``sh -c <command>``, locally (``[command]
allow_local_commands``) with the node's ``command_secret`` in
``HWDRIVERS_COMMAND_SECRET``, or over SSH to the profile's host with a
remote terminal (``ssh -tt -e none``, so ssh's own ``~`` escapes are off)
and no secret: the secret travels on ssh's standard input for power
commands, which is the console itself here. Its standard input and
output are the console the conductor's proxy serves; it is up once it
has run for a second without exiting.
"""

import shlex

from hwdrivers.common import environment
from hwdrivers.common import exception
from hwdrivers.drivers.modules import command
from hwdrivers.drivers.modules import command_settings as settings
from hwdrivers.drivers.modules import console_base
from hwdrivers.drivers.modules import shell_template
from hwdrivers.drivers.modules import ssh

FIELD = "command_console"


class CommandConsole(console_base.ProxiedConsole):
    """The profile's ``console`` command, served by the conductor's console proxy."""

    driver_info_schema = settings.SCHEMA
    driver_info_schema_depends_on = settings.DEPENDS_ON

    def driver_info_schema_for(self, driver_info):
        return settings.schema_for(driver_info)

    def parse_driver_info(self, task):
        info = settings.parse(task.node,
                              settings.declared_secrets(getattr(task, "driver", None)))
        if info.profile is None:
            raise exception.InvalidParameterValue(
                "Node %s: the command console runs the console command of a command "
                "profile, and this node has inline templates: set driver_info "
                "command_profile to a profile whose [command_profile:<name>] group "
                "has a console command" % task.node.uuid)
        if not (info.fields.get(FIELD) or "").strip():
            raise exception.InvalidParameterValue(
                "Node %s: command profile %s has no console command: the operator "
                "sets console in [command_profile:%s] (e.g. virsh console --force "
                "{vm}), or the node uses console_interface no-console"
                % (task.node.uuid, info.profile, info.profile))
        return info

    def validate(self, task):
        self.parse_driver_info(task)

    def console_command(self, task) -> console_base.ConsoleCommand:
        info = self.parse_driver_info(task)
        rendered = shell_template.render(info[FIELD], info.values)
        secret = info["command_secret"]
        target = command.CommandPower._target(info)
        if target is None:
            return console_base.ConsoleCommand(
                argv=["sh", "-c", rendered],
                env=environment.minimal(
                    {settings.SECRET_ENV: secret} if secret is not None else None),
                secrets=(secret,) if secret else (),
                peer="console command of profile %s" % info.profile,
                explain=_explain_local)
        argv = ssh.client_argv(target, "exec sh -c %s" % shlex.quote(rendered),
                               info.timeout)
        argv = [("-tt" if word == "-T" else word) for word in argv]
        argv[1:1] = ["-e", "none"]
        return console_base.ConsoleCommand(
            argv=argv, env=environment.minimal(keep=("SSH_AUTH_SOCK",)),
            secrets=(secret,) if secret else (),
            peer="console command of profile %s on %s" % (info.profile, target),
            explain=_explain_ssh)


def _explain_local(said: str) -> str | None:
    if "not found" in said:
        return "the console command's program is not installed on the conductor host"
    return None


def _explain_ssh(said: str) -> str | None:
    if "ssh" in said.lower() or "permission denied" in said.lower():
        return ("ssh could not open the session: check the profile's host, port, user, "
                "ssh_key and known_hosts, as for its power commands")
    return None
