"""[command]: options of the command driver."""

from oslo_config import cfg

from hwdrivers.conf import driver_common
from hwdrivers.conf import finite

group = cfg.OptGroup("command", help="The command driver: power through shell "
                                     "commands the operator defines in "
                                     "[command_profile:<name>] groups, run locally "
                                     "or over SSH.")

opts = driver_common.controller_opts(max_concurrency=1, min_interval=0.0,
                                     retry_timeout=10.0) + [
    cfg.BoolOpt("allow_node_templates", default=False,
                help="Accept command templates written in a node's driver_info "
                     "(command_power_on, command_power_off, command_power_status, "
                     "command_reboot) instead of only commands from "
                     "[command_profile:<name>] groups. Enabling it means whoever "
                     "can create or patch nodes can run any command, as the "
                     "conductor's user, on the conductor host (with "
                     "allow_local_commands) or on any host the conductor can "
                     "reach over SSH. Leave it off unless every API user is "
                     "trusted with that."),
    cfg.BoolOpt("allow_local_commands", default=False,
                help="Run commands on the conductor host: for profiles without "
                     "host and, with allow_node_templates, for nodes without "
                     "command_host. Off by default, so a command meant for a "
                     "remote host never runs here by mistake. Commands over SSH "
                     "are always allowed."),
    finite.FloatOpt("command_timeout", default=30.0, min=0.1,
                    help="Seconds one command may run before it is killed, with "
                         "every process it started (its process group); a profile's "
                         "timeout (or an inline node's command_timeout) overrides it. "
                         "One operation ends within command_retry_timeout plus one "
                         "command timeout plus 1 s. Over SSH the remote command also runs "
                         "under the host's coreutils timeout, when it has one."),
    cfg.StrOpt("ssh_command", default="ssh",
               help="The OpenSSH client to run (a name looked up in PATH, or a path)."),
    cfg.IntOpt("ssh_control_persist", default=60, min=0,
               help="Seconds an idle SSH connection stays open for reuse by the "
                    "next command to the same host (OpenSSH ControlPersist). 0 "
                    "opens a new connection for every command."),
    cfg.IntOpt("ssh_connect_timeout", default=10, min=1,
               help="Seconds to wait for an SSH connection (OpenSSH ConnectTimeout); "
                    "the command's timeout caps it."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
