"""A conductor that is back is not shut out by the long call that tried it first.

Once a call to a conductor has timed out (paused, frozen, a stall), the API
process refuses its other calls at once for a few seconds, then lets one
call try it again. That call may be a hardware wait (sensors from a slow
BMC) given the whole [json_rpc] timeout, 150 s: every other node of a
conductor that was answering again was refused with 503 until it ended.
Now one more call may try once rpc.PROBE_WINDOW has passed.

A real waitress listener on 127.0.0.1 serving rpc.make_app; the client's
clock is a fake one, moved by the test, so nothing here waits on time.
"""

import threading
import time

import pytest
import waitress

from hwdrivers.cmd import server as server_mod
from hwdrivers.common import context as hw_context
from hwdrivers.conductor import rpc

CTX = hw_context.get_admin_context()


class _Conductor:
    """``stall`` blocks until released (a paused conductor, then a slow BMC)."""

    def __init__(self):
        self.release = threading.Event()
        self.stalled = threading.Semaphore(0)

    def stall(self, context, ident):
        self.stalled.release()
        self.release.wait(30)
        return "slow answer"

    def quick(self, context, ident):
        return "answer"


class _Clock:
    """What rpc reads of the time module: a monotonic clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    strftime = staticmethod(time.strftime)


@pytest.fixture
def conductor(monkeypatch):
    target = _Conductor()
    server = waitress.create_server(rpc.make_app(target, ("stall", "quick")),
                                    host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield target, "http://127.0.0.1:%d" % int(server.effective_port)
    target.release.set()
    server_mod.close_listener(server, thread)


def test_a_long_trial_call_does_not_shut_out_a_conductor_that_is_back(conductor,
                                                                      monkeypatch):
    target, url = conductor
    clock = _Clock()
    monkeypatch.setattr(rpc, "time", clock)
    client = rpc.Client(timeout=150)
    with pytest.raises(rpc.ConductorUnreachable, match="no answer within"):
        client.call(url, "stall", CTX, host="c1", node="n1", call_timeout=0.2, ident="n1")
    assert target.stalled.acquire(timeout=10)

    clock.now += rpc.SILENT_RETRY + 1  # one call may try it again: a hardware wait
    trial = {}
    thread = threading.Thread(target=lambda: trial.update(result=client.call(
        url, "stall", CTX, host="c1", node="n2", ident="n2")))
    thread.start()
    assert target.stalled.acquire(timeout=10)  # it reached the conductor, and waits

    clock.now += rpc.PROBE_WINDOW / 2  # the others are still held back meanwhile
    with pytest.raises(rpc.ConductorUnreachable, match="no answer within"):
        client.call(url, "quick", CTX, host="c1", node="n3", ident="n3")

    clock.now += rpc.PROBE_WINDOW  # not for the whole hardware wait
    assert client.call(url, "quick", CTX, host="c1", node="n3", ident="n3") == "answer"
    # It answered: the conductor is taken as back for every call.
    assert client.call(url, "quick", CTX, host="c1", node="n4", ident="n4") == "answer"

    target.release.set()
    thread.join(30)
    assert trial["result"] == "slow answer"
