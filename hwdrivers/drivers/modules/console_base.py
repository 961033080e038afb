"""Serial consoles a proxy serves: the driver says what to run, a runner runs it.

A console interface here does not run anything long-lived itself. It
describes the console session as a :class:`ConsoleCommand` (the program
whose standard input and output are the machine's serial port, its
environment, how to tell that the session is up, how to leave it cleanly),
and hands it to the *runner*: the conductor's console manager
(:mod:`hwdrivers.conductor.console_manager`), which registers itself with
:func:`set_runner` when the service starts. The runner owns what outlives a
request: the TCP port, the relay serving one client, the console log,
restarts. Drivers never import the conductor (the layering rule), so the
runner comes in through this hook; a process without one (the one-shot CLI,
``hwdrivers-powerdriver``) has no console to offer and says so.
"""

import dataclasses
import threading
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Protocol

from hwdrivers.common import exception
from hwdrivers.drivers import base


@dataclasses.dataclass(frozen=True)
class ConsoleCommand:
    """One console session: a program whose stdin/stdout are the serial line."""

    #: The program and its arguments. Never a secret: see ``env``.
    argv: Sequence[str]
    #: Its whole environment (secrets go here, e.g. IPMI_PASSWORD).
    env: Mapping[str, str]
    #: What the program prints once the session is up (ipmitool's banner);
    #: None: up once it has run for a second without exiting.
    ready_marker: bytes | None = None
    #: The program's escape character, which it interprets after a newline
    #: (ipmitool's ``~``): the relay doubles it there, so a client's ``~.``
    #: reaches the machine instead of ending the session.
    escape: bytes | None = None
    #: Sent to the program to end the session cleanly before it is killed.
    quit_sequence: bytes | None = None
    #: Programs run (each to completion, errors ignored) before every start,
    #: e.g. ``ipmitool sol deactivate`` so a stale session never blocks.
    before: Sequence[Sequence[str]] = ()
    #: Values never written to the log or sent to a client (the password).
    secrets: Sequence[str] = ()
    #: Who answers, for messages: ``BMC 10.0.0.21:623``.
    peer: str = ""
    #: Turns the program's last words into a reason with a fix (or None).
    explain: Callable[[str], str | None] | None = None
    #: The TCP port the node asks for (Ironic's ``ipmi_terminal_port``);
    #: None: the next free one of ``[console] port_range``.
    port: int | None = None


class ConsoleRunner(Protocol):
    """What the conductor's console manager offers console interfaces."""

    def start_proxy(self, task, command: ConsoleCommand) -> dict: ...

    def stop_proxy(self, task) -> None: ...

    def proxy_info(self, task) -> dict | None: ...


_runner: ConsoleRunner | None = None
_runner_lock = threading.Lock()


def set_runner(runner: ConsoleRunner | None, replace: ConsoleRunner | None = None) -> None:
    """Install ``runner``; with ``replace``, only if that one is still installed."""
    global _runner
    with _runner_lock:
        if replace is None or _runner is replace:
            _runner = runner


def get_runner(task, interface) -> ConsoleRunner:
    runner = _runner
    if runner is None:
        raise exception.UnsupportedDriverExtension(
            node=task.node.uuid, interface="console",
            implementation=interface.implementation_name,
            action="consoles outside the conductor service: run hwdrivers-server and "
                   "use the API (hwdrivers --url ... node console enable)")
    return runner


class ProxiedConsole(base.ConsoleInterface):
    """A console served by the conductor's proxy; subclasses build the command."""

    #: The console manager changes console state without the node's lease,
    #: so a console can be watched while the node is being deployed.
    console_needs_lock = False

    def console_command(self, task) -> ConsoleCommand:
        raise NotImplementedError

    def console_port(self, task) -> int | None:
        """The port this node's console must listen on, or None for any free one."""
        return None

    def start_console(self, task):
        self.validate(task)
        return get_runner(task, self).start_proxy(task, self.console_command(task))

    def stop_console(self, task):
        get_runner(task, self).stop_proxy(task)

    def get_console(self, task):
        """``{"type": "socat", "url": "tcp://host:port"}`` as Ironic's, or None when off."""
        return get_runner(task, self).proxy_info(task)
