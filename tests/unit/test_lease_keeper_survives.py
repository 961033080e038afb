"""The lease keeper's thread outlives a renewal round that raised.

Only the database call was guarded: anything else raising in a round
(a log handler, a task's bookkeeping) ended the thread, and only the next
task to start restarted it, so the leases of the tasks already running
were not renewed meanwhile and lapsed.
"""

import threading

from hwdrivers.conductor import task_manager
from tests.waits import wait_for


def test_the_keeper_goes_on_after_a_round_raises(config, monkeypatch):
    config(conductor__lease_duration=1)
    keeper = task_manager._LeaseKeeper()
    rounds = []
    second = threading.Event()

    def renew_due(force=False):
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("a handler failed")
        second.set()

    monkeypatch.setattr(keeper, "renew_due", renew_due)
    task = object()
    keeper.add(task)
    try:
        wait_for(second.is_set, 10, message="a second renewal round")
        assert keeper._thread.is_alive()
    finally:
        # The thread outlives the test: with nothing held, its rounds do nothing.
        keeper.discard(task)
