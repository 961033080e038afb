"""``ipmitool-socat``: the BMC's serial-over-LAN console, ``ipmitool sol activate``.

The name is Ironic's, so nodes and clients moved from Ironic keep working,
and so is the answer of ``get_console`` (``{"type": "socat", "url":
"tcp://host:port"}``: a raw TCP stream, what socat served in Ironic). The
program in front of ipmitool is the conductor's console relay rather than
socat itself, because the relay must also read the console while nobody is
connected, to keep the console log (doc/console.md says why).

The session is the power driver's: the same driver_info, the same
``ipmitool`` command line (:func:`ipmitool.build_argv`), the password in
``IPMI_PASSWORD`` with ``-E``, never in argv. Before every activation a
``sol deactivate`` clears a session a crashed proxy may have left open on
the BMC, which would otherwise refuse the new one.
"""

from hwdrivers.common import environment
from hwdrivers.common import exception
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import console_base
from hwdrivers.drivers.modules import ipmitool

#: What ipmitool prints once the SOL payload is active.
READY_MARKER = b"SOL Session operational"

TERMINAL_PORT = params.Param(
    "ipmi_terminal_port", "TCP port of this node's console on the conductor, as in "
    "Ironic (default: the next free port of [console] port_range)", type="port")
SCHEMA = ipmitool.SCHEMA + params.Schema(TERMINAL_PORT)


def _explain(info):
    def explain(said: str) -> str | None:
        cls, hint = ipmitool.classify(said, info)
        if "payload already active" in said.lower():
            return ("another client holds the BMC's SOL session and sol deactivate "
                    "could not end it; end that session on the BMC")
        if "sol payload disabled" in said.lower() or "payload is disabled" in said.lower():
            return ("serial-over-LAN is disabled on the BMC: enable it (ipmitool sol "
                    "set enabled true)")
        return hint
    return explain


class IPMIToolSocatConsole(ipmitool._IPMIBase, console_base.ProxiedConsole):
    """Serial over LAN through ``ipmitool sol activate``, served by the console relay."""

    driver_info_schema = SCHEMA

    def console_port(self, task):
        return SCHEMA.parse(task.node.driver_info, node=task.node.uuid,
                            check_unknown=False)["ipmi_terminal_port"]

    def validate(self, task):
        self.console_port(task)
        info = ipmitool.parse(task)
        if info["ipmi_protocol_version"] != "2.0":
            raise exception.InvalidParameterValue(
                "Node %s: serial over LAN needs IPMI 2.0 (lanplus): set "
                "ipmi_protocol_version=2.0" % task.node.uuid)

    def console_command(self, task) -> console_base.ConsoleCommand:
        info = ipmitool.parse(task)
        tool = ipmitool.tool_path()
        env = environment.minimal({"LC_ALL": "C"})
        env.update(ipmitool.secret_env(info))
        return console_base.ConsoleCommand(
            argv=ipmitool.build_argv(info, ["sol", "activate"], tool),
            env=env,
            ready_marker=READY_MARKER,
            escape=b"~",
            quit_sequence=b"\r~.",
            before=[ipmitool.build_argv(info, ["sol", "deactivate"], tool)],
            secrets=tuple(s for s in (info["ipmi_password"], info["ipmi_hex_kg_key"])
                          if s),
            peer="BMC %s" % ipmitool.bmc_of(info),
            explain=_explain(info),
            port=self.console_port(task))
