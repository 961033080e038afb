"""command: machines powered by commands the operator configures.

For what has no BMC the framework speaks to: a VM on a hypervisor (``virsh
start {vm}``), a board behind a relay script, a machine behind a jump host
that has the right tool. The operator defines the commands in
``[command_profile:<name>]`` groups; a node selects one and supplies the
values. They run on the conductor host or, over OpenSSH, on a controller
host (see :mod:`.modules.command`). Commands only switch power, so
management (boot device), boot and deploy are ``noop``.
"""

from hwdrivers.drivers import hardware_type


class CommandHardware(hardware_type.AbstractHardwareType):
    description = ("Power through commands the operator defines in command profiles "
                   "(on, off, status, reboot), run on the conductor host or on a "
                   "controller host over SSH; one queue per SSH host.")

    supported_boot_interfaces = ("noop",)
    supported_deploy_interfaces = ("noop",)
    supported_management_interfaces = ("noop",)
    supported_power_interfaces = ("command",)
    supported_console_interfaces = ("no-console", "command")
