"""Retry driver calls by the error taxonomy, up to a deadline that holds.

Connection and action errors are retried with exponential backoff until
the deadline; settings, auth, tool-missing and unsupported errors fail at
once (retrying cannot fix them). Every error leaves here naming the node
and the controller.

The deadline rule (doc/configuration.md, "Deadlines"): an operation on one
node whose controller does not answer ends, with its error, within
``command_retry_timeout + command timeout + SLACK`` seconds. Three things
make that hold:

- no attempt starts once the deadline has passed, and no pause between
  attempts runs past it; so the last attempt starts before the deadline
  and the driver's per-command timeout ends it;
- every step of one operation (checking what the controller supports,
  acting, reading the state back after a failure) shares one deadline,
  opened by :func:`operation`, instead of each retrying for the whole
  ``command_retry_timeout`` again;
- a step that finds the deadline passed while the controller's last
  attempt got no answer (a connection error) does not try again: it raises
  :class:`DeadlinePassed` at once, so the caller records an unknown state.
  A controller that answered (even with a refusal) is asked once more, so
  the state read back after a refused action stays truthful.

Before every attempt, the first and each retry, the task may stop the call
(:func:`confirm_lease`): a conductor's task whose node lock may have
lapsed while the process was paused checks that it still holds it, and is
stopped with LeaseLost, sending nothing, when another task took it.
"""

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator
from typing import Any

from hwdrivers.common import exception

__all__ = [
    "DeadlinePassed", "SLACK", "operation", "note", "controller_silent", "run",
    "confirm_lease",
]

_FIRST_PAUSE = 0.2
_MAX_PAUSE = 5.0
#: The next attempt starts at least this long before the deadline.
_MARGIN = 0.05

#: Seconds the rule allows on top of command_retry_timeout + command timeout:
#: the bookkeeping around the last attempt (recording the error, killing a
#: tool's process group, closing a connection).
SLACK = 1.0


class _Operation:
    """The shared deadline of one operation, and the controller's last silence.

    ``failing`` is the connection error of the controller's last attempt
    (None once it answered).
    """

    __slots__ = ("deadline", "failing")

    def __init__(self, deadline):
        self.deadline = deadline
        self.failing = None


_CURRENT = contextvars.ContextVar("hwdrivers_operation", default=None)


class DeadlinePassed(exception.DriverConnectionError):
    """Not attempted: the operation's deadline passed and the controller did not answer."""


@contextlib.contextmanager
def operation(interface, deadline: float | None = None) -> Iterator[float]:
    """Every :func:`run` inside shares one deadline (nested calls keep the outer one).

    ``deadline`` (``time.monotonic()`` seconds) defaults to now plus the
    interface's ``retry_timeout()``. Yields the deadline.
    """
    current = _CURRENT.get()
    if current is not None:
        yield current.deadline
        return
    if deadline is None:
        deadline = time.monotonic() + max(0.0, interface.retry_timeout())
    token = _CURRENT.set(_Operation(deadline))
    try:
        yield deadline
    finally:
        _CURRENT.reset(token)


def note(error: BaseException) -> None:
    """Tell the current operation how a call made outside :func:`run` ended.

    For driver calls that are not retried but talk to the controller (a
    capability check): a connection error counts as the controller's last
    silence, so a later step past the deadline is not attempted.
    """
    op = _CURRENT.get()
    if op is not None:
        op.failing = error if isinstance(error, exception.DriverConnectionError) else None


def controller_silent() -> bool:
    """Whether the current operation's controller did not answer its last attempt.

    A driver may then skip optional requests (a capability check) rather
    than wait another command timeout for a controller known to be silent.
    """
    op = _CURRENT.get()
    return op is not None and op.failing is not None


def _no_confirm():
    pass


def _confirmer(task) -> Callable[[], None]:
    """The task's ``confirm_lease``, or nothing for a task without one (a stand-in)."""
    return getattr(task, "confirm_lease", _no_confirm)


def confirm_lease(task) -> None:
    """Raise (LeaseLost) unless ``task`` may still send commands to its hardware.

    :func:`run` does it before every attempt. A driver whose one call sends
    several commands (an IPMI reboot falling back to off, then on; a PDU
    outlet switched off, then on) calls it between them, so a conductor
    paused in the middle does not send the rest once another one has taken
    the node over. Costs one clock read while the task's lock is fresh.
    """
    _confirmer(task)()


def _no_gate(key, limits):
    return contextlib.nullcontext()


def _not_attempted(op, key):
    return DeadlinePassed(
        "not attempted: the operation's deadline passed %.1fs ago and the "
        "controller did not answer its last attempt (%s); raise the driver's "
        "command_retry_timeout if it is only slow"
        % (time.monotonic() - op.deadline, op.failing.detail), controller=key)


def run(task, interface, func: Callable[..., Any], *args, gate=None,
        deadline: float | None = None, **kwargs) -> Any:
    """Call ``func(task, *args, **kwargs)`` with retries and controller gating.

    ``gate(key, limits)`` returns a context manager held around each
    attempt (the conductor passes its per-controller limiter), so a retry
    waits its turn again instead of holding the controller while sleeping.

    The deadline is ``deadline`` if given, else the enclosing
    :func:`operation`'s, else now plus ``interface.retry_timeout()``. A call
    with its own fresh deadline always makes its first attempt; inside an
    operation whose deadline passed, a call makes no attempt when the
    controller did not answer the last one (a connection error), and one
    attempt (no retry) when it answered.
    """
    gate = gate or _no_gate
    confirm = _confirmer(task)
    key = interface.controller_key(task)
    limits = interface.controller_limits()
    op = _CURRENT.get()
    if deadline is None:
        deadline = op.deadline if op is not None else (
            time.monotonic() + max(0.0, interface.retry_timeout()))
    node = task.node.name or task.node.uuid
    if op is not None and op.failing and time.monotonic() >= deadline:
        raise _not_attempted(op, key).locate(node=node)
    pause = _FIRST_PAUSE
    attempt = 0
    failure = None
    while True:
        attempt += 1
        try:
            with gate(key, limits):
                if failure is not None and time.monotonic() >= deadline:
                    # The controller's queue held this retry past the deadline.
                    raise failure.gave_up_after(attempt - 1)
                confirm()  # last, once the controller's turn came: LeaseLost
                result = func(task, *args, **kwargs)
        except exception.DriverError as exc:
            if exc is failure:
                raise
            failure = exc
            note(exc)
            exc.locate(node=node, controller=key)
            # The pause is shortened so the next attempt starts before the
            # deadline; none starts once it has passed.
            wait = min(pause, deadline - time.monotonic() - _MARGIN)
            if not exc.retryable or wait < 0:
                exc.gave_up_after(attempt)
                raise
            task.logger.warning("%s; retrying in %.1fs (attempt %d)",
                                exc, wait, attempt)
            time.sleep(wait)
            pause = min(pause * 2, _MAX_PAUSE)
        else:
            if op is not None:
                op.failing = None
            return result
