"""Polling for a condition the code under test reaches asynchronously."""

import time


def wait_for(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Call ``predicate`` until it returns something true, and return that.

    AssertionError after ``timeout`` seconds, naming ``message``: a test
    that waits on a worker, a periodic task or a server fails with what it
    was waiting for instead of hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, message))
        time.sleep(interval)
