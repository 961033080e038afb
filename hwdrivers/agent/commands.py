"""Commands and their results, as ironic-python-agent runs and reports them.

A command is ``<extension>.<name>`` with keyword parameters. Each one is
declared once in a :data:`Table` (function, sync or async, validator);
validation runs before anything starts, so bad parameters are an HTTP 400
and change nothing. Async commands run in a thread, one at a time: a new
command while the last is RUNNING is refused with 409 (AgentIsBusy), as
in IPA. Results keep IPA's fields; ``command_params`` is kept in memory but
never serialised (IPA does not return it either: it holds the config
drive and image URLs).
"""

import collections
import dataclasses
import inspect
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from hwdrivers.agent import errors

LOG = logging.getLogger(__name__)

RUNNING, SUCCEEDED, FAILED = "RUNNING", "SUCCEEDED", "FAILED"
#: results kept for GET /v1/commands/ (oldest dropped first)
MAX_RESULTS = 100


@dataclasses.dataclass(frozen=True)
class Command:
    func: Callable[..., Any]
    asynchronous: bool
    validator: Callable[..., None] | None = None


#: "extension.name" -> Command
Table = dict[str, Command]


class CommandResult:
    def __init__(self, name: str, params: dict) -> None:
        self.id = str(uuid.uuid4())
        self.command_name = name  # IPA reports the name without its extension
        self.command_params = params
        self.command_status = RUNNING
        self.command_error: errors.AgentError | None = None
        self.command_result: dict | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()

    def finish(self, result: Any = None, error: BaseException | None = None,
               prefix: bool = True) -> None:
        """Record the outcome; a string result becomes ``{"result": ...}`` as in IPA
        (prefixed with the command name for async commands)."""
        if error is not None and not isinstance(error, errors.AgentError):
            error = errors.CommandExecutionError(str(error) or type(error).__name__)
        if isinstance(result, str):
            text = "%s: %s" % (self.command_name, result) if prefix else result
            result = {"result": text}
        with self._lock:
            if error is None:
                self.command_status, self.command_result = SUCCEEDED, result
            else:
                self.command_status, self.command_error = FAILED, error
        self._done.set()

    def is_done(self) -> bool:
        return self._done.is_set()

    def join(self, timeout: float | None = None) -> "CommandResult":
        self._done.wait(timeout)
        return self

    def serialize(self) -> dict:
        with self._lock:
            return {"id": self.id, "command_name": self.command_name,
                    "command_status": self.command_status,
                    "command_error": (self.command_error.serialize()
                                      if self.command_error else None),
                    "command_result": self.command_result}


class Executor:
    """Runs commands from a :data:`Table` and remembers their results."""

    def __init__(self, table: Table, on_finished: Callable[[], None] = lambda: None) -> None:
        self._table = table
        self._on_finished = on_finished
        self._lock = threading.Lock()
        self._results: collections.OrderedDict[str, CommandResult] = (
            collections.OrderedDict())

    @staticmethod
    def _check_form(name: Any) -> None:
        if not isinstance(name, str) or name.count(".") != 1:
            raise errors.InvalidCommandError(
                "command name must be of the form <extension>.<name>, got %r" % (name,))

    def _lookup(self, name: str) -> Command:
        if name in self._table:
            return self._table[name]
        extension = name.split(".", 1)[0]
        if not any(known.startswith(extension + ".") for known in self._table):
            raise errors.RequestedObjectNotFoundError(
                "Extension with id %s not found." % extension)
        raise errors.InvalidCommandError("Unknown command: %s; known: %s"
                                         % (name, ", ".join(sorted(self._table))))

    @staticmethod
    def _check_params(name: str, command: Command, params: dict) -> None:
        signature = inspect.signature(command.func)
        try:
            signature.bind(**params)
        except TypeError as exc:
            accepted = ", ".join(signature.parameters) or "none"
            raise errors.InvalidCommandParamsError(
                "%s: %s (parameters: %s)" % (name, exc, accepted))
        if command.validator:
            command.validator(**params)

    def execute(self, name: Any, params: dict) -> CommandResult:
        """Start (or run) a command; raises AgentError for a refused request."""
        with self._lock:
            # IPA's order: the name's form, then busy, then which command it is
            self._check_form(name)
            if self._results:
                last = next(reversed(self._results.values()))
                if not last.is_done():
                    raise errors.AgentIsBusy("executing command %s" % last.command_name)
            command = self._lookup(name)
            self._check_params(name, command, params)
            result = CommandResult(name.split(".", 1)[1], params)
            self._results[result.id] = result
            while len(self._results) > MAX_RESULTS:
                self._results.popitem(last=False)
        LOG.info("command %s (%s) started", name, result.id)
        if command.asynchronous:
            threading.Thread(target=self._run, args=(command, result, params),
                             name="agent-command-%s" % result.id, daemon=True).start()
        else:
            self._run(command, result, params)
        return result

    def _run(self, command: Command, result: CommandResult, params: dict) -> None:
        try:
            value = command.func(**params)
        except Exception as exc:
            LOG.error("command %s failed: %s", result.command_name, exc)
            result.finish(error=exc)
        else:
            LOG.info("command %s succeeded", result.command_name)
            result.finish(result=value, prefix=command.asynchronous)
        if command.asynchronous:
            self._on_finished()

    def list(self) -> list[CommandResult]:
        with self._lock:
            return list(self._results.values())

    def get(self, result_id: str) -> CommandResult:
        with self._lock:
            try:
                return self._results[result_id]
            except KeyError:
                raise errors.RequestedObjectNotFoundError(
                    "Command Result with id %s not found." % result_id)
