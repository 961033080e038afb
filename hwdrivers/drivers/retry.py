"""Retry driver calls by the error taxonomy, up to a deadline.

Connection and action errors are retried with exponential backoff until
the interface's ``retry_timeout()`` is spent; settings, auth, tool-missing
and unsupported errors fail at once (retrying cannot fix them). Every
error leaves here naming the node and the controller.
"""

import contextlib
import time

from hwdrivers.common import exception

_FIRST_PAUSE = 0.2
_MAX_PAUSE = 5.0


def _no_gate(key, limits):
    return contextlib.nullcontext()


def run(task, interface, func, *args, gate=None, **kwargs):
    """Call ``func(task, *args, **kwargs)`` with retries and controller gating.

    ``gate(key, limits)`` returns a context manager held around each
    attempt (the conductor passes its per-controller limiter), so a retry
    waits its turn again instead of holding the controller while sleeping.
    """
    gate = gate or _no_gate
    key = interface.controller_key(task)
    limits = interface.controller_limits()
    deadline = time.monotonic() + max(0.0, interface.retry_timeout())
    pause = _FIRST_PAUSE
    attempt = 0
    while True:
        attempt += 1
        try:
            with gate(key, limits):
                return func(task, *args, **kwargs)
        except exception.DriverError as exc:
            exc.locate(node=task.node.name or task.node.uuid, controller=key)
            remaining = deadline - time.monotonic()
            if not exc.retryable or remaining <= 0:
                if attempt > 1:
                    exc.message += " (after %d attempts)" % attempt
                    exc.args = (exc.message,)
                raise
            task.logger.warning("%s; retrying in %.1fs (attempt %d)",
                                exc, min(pause, remaining), attempt)
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _MAX_PAUSE)
