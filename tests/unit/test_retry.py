"""retry.run and retry.operation: the deadline rule, attempt by attempt.

A scripted interface records when each attempt starts, so each test checks
the rule itself: no attempt starts once the deadline has passed, no pause
runs past it, an operation's steps share one deadline, and a step after a
deadline the controller did not answer by is not attempted. Timings are
upper bounds with room for a loaded machine.
"""

import contextlib
import logging
import threading
import time
import types

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import retry
from hwdrivers.drivers import task as driver_task


class Scripted:
    """An interface whose call fails with ``errors`` in turn, then returns "ok"."""

    def __init__(self, retry_timeout, errors=(), duration=0.0):
        self._retry_timeout = retry_timeout
        self.errors = list(errors)
        self.duration = duration
        self.starts = []

    def controller_key(self, task):
        return "scripted:1"

    def controller_limits(self):
        return base.UNLIMITED

    def retry_timeout(self):
        return self._retry_timeout

    def call(self, task):
        self.starts.append(time.monotonic())
        time.sleep(self.duration)
        if self.errors:
            error = self.errors.pop(0) if len(self.errors) > 1 else self.errors[0]
            raise error("scripted failure")
        return "ok"


TASK = types.SimpleNamespace(node=types.SimpleNamespace(name="n1", uuid="u1"),
                             logger=logging.getLogger("test_retry"))


def test_no_attempt_starts_after_the_deadline_and_no_pause_runs_past_it():
    iface = Scripted(1.0, [exception.DriverConnectionError], duration=0.1)
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError) as error:
        retry.run(TASK, iface, iface.call)
    ended = time.monotonic()
    deadline = started + 1.0
    assert len(iface.starts) >= 3
    assert all(start < deadline for start in iface.starts), [s - started for s in iface.starts]
    # The last attempt started before the deadline; it alone may run past it.
    assert ended < deadline + iface.duration + 0.5
    assert "(after %d attempts)" % len(iface.starts) in str(error.value)
    assert "node n1" in str(error.value) and "controller scripted:1" in str(error.value)


def test_errors_retrying_cannot_fix_are_not_retried():
    iface = Scripted(5.0, [exception.DriverAuthError])
    with pytest.raises(exception.DriverAuthError):
        retry.run(TASK, iface, iface.call)
    assert len(iface.starts) == 1


def test_a_retry_held_in_the_controller_queue_past_the_deadline_is_not_started():
    iface = Scripted(0.5, [exception.DriverConnectionError])
    calls = []

    @contextlib.contextmanager
    def slow_gate(key, limits):
        calls.append(key)
        if len(calls) > 1:  # other nodes hold the controller: the turn comes late
            time.sleep(0.7)
        yield

    with pytest.raises(exception.DriverConnectionError):
        retry.run(TASK, iface, iface.call, gate=slow_gate)
    assert len(calls) == 2 and len(iface.starts) == 1


def test_an_operation_shares_one_deadline_and_skips_a_step_after_silence():
    iface = Scripted(0.6, [exception.DriverConnectionError])
    started = time.monotonic()
    with retry.operation(iface) as deadline:
        with pytest.raises(exception.DriverConnectionError):
            retry.run(TASK, iface, iface.call)
        attempts = len(iface.starts)
        time.sleep(max(0.0, deadline - time.monotonic()))  # the last one may end just before
        # The read-back after the failure: the deadline has passed and the
        # controller did not answer, so it is not attempted at all.
        with pytest.raises(retry.DeadlinePassed) as error:
            retry.run(TASK, iface, iface.call)
    assert len(iface.starts) == attempts
    assert time.monotonic() - started < 0.6 + 0.5
    assert "not attempted" in str(error.value) and "node n1" in str(error.value)


def test_after_the_deadline_a_controller_that_answered_is_asked_once_more():
    iface = Scripted(0.3, [exception.DriverActionError])  # it answers, and refuses
    with retry.operation(iface) as deadline:
        with pytest.raises(exception.DriverActionError):
            retry.run(TASK, iface, iface.call)
        attempts = len(iface.starts)
        time.sleep(max(0.0, deadline - time.monotonic()))
        iface.errors = []
        assert retry.run(TASK, iface, iface.call) == "ok"
    assert len(iface.starts) == attempts + 1


def test_nested_operations_keep_the_outer_deadline():
    iface = Scripted(10.0)
    with retry.operation(iface) as outer:
        with retry.operation(Scripted(0.0)) as inner:
            assert inner == outer


def test_operations_are_per_thread():
    iface = Scripted(0.0, [exception.DriverConnectionError])
    seen = []

    def other_thread():
        iface2 = Scripted(0.0)
        seen.append(retry.run(TASK, iface2, iface2.call))  # not this thread's deadline

    with retry.operation(iface):
        with pytest.raises(exception.DriverConnectionError):
            retry.run(TASK, iface, iface.call)
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert seen == ["ok"]


def test_verification_polls_share_one_deadline(config, monkeypatch):
    """A controller that accepts the action, then stops answering: the state
    polls retry only until power_state_change_timeout, not each for its own
    command_retry_timeout."""
    from hwdrivers.drivers.modules import fake
    task = driver_task.StandaloneTask.for_driver("fake-hardware", name="n1")
    starts = []

    def silent(self, task):
        starts.append(time.monotonic())
        raise exception.DriverConnectionError("no answer")

    monkeypatch.setattr(fake.FakePower, "get_power_state", silent)
    monkeypatch.setattr(fake.FakePower, "retry_timeout", lambda self: 30.0)
    started = time.monotonic()
    with pytest.raises(exception.DriverConnectionError):
        actions.wait_for_power_state(task, PowerState.ON, timeout=0.8)
    assert time.monotonic() - started < 0.8 + 0.5
    assert len(starts) >= 2 and all(s < started + 0.8 for s in starts)
