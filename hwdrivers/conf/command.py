"""[command]: options of the command driver."""

from oslo_config import cfg

from hwdrivers.conf import driver_common

group = cfg.OptGroup("command", help="The command driver: power through configured "
                                     "shell commands, run locally or over SSH.")

opts = driver_common.controller_opts(max_concurrency=1, min_interval=0.0,
                                     retry_timeout=10.0) + [
    cfg.BoolOpt("allow_local_commands", default=False,
                help="Run a node's commands on the conductor host when its "
                     "command_host is unset. Off by default: whoever may set a "
                     "node's driver_info could otherwise run any command as the "
                     "conductor's user. Commands over SSH are always allowed."),
    cfg.FloatOpt("command_timeout", default=30.0, min=0.1,
                 help="Seconds one command may run before it is killed, with "
                      "every process it started (its process group); a node's "
                      "driver_info command_timeout overrides it. Over SSH only "
                      "the local ssh client can be killed: sshd then closes the "
                      "remote command's channel, which ends the command when it "
                      "next writes its output."),
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
