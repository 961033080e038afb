"""A call that reaches another conductor than the one it was routed to is refused.

Each conductor records the URL the API processes reach it at. Two that
record the same one (``[json_rpc] advertise_host`` copied into every
machine's file, a load balancer put in front of the conductors) had one of
them take the other's calls and act on nodes that were not its own: two
conductors driving one PDU, whose per-controller queue holds only inside
one process. The call now carries the conductor it was routed to, and a
conductor that is not that one does nothing and says why.

A real waitress listener on 127.0.0.1 serving rpc.make_app as conductor c2.
"""

import threading

import pytest
import waitress

from hwdrivers.cmd import server as server_mod
from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import rpc

CTX = hw_context.get_admin_context()


class _Conductor:
    def __init__(self):
        self.acted = []

    def change_power_state(self, context, ident):
        self.acted.append(ident)
        return "accepted"


@pytest.fixture
def c2():
    target = _Conductor()
    app = rpc.make_app(target, ("change_power_state",), hostname="c2")
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield target, "http://127.0.0.1:%d" % int(server.effective_port)
    server_mod.close_listener(server, thread)


def test_a_call_routed_to_another_conductor_changes_nothing(c2):
    target, url = c2
    with pytest.raises(exception.HWDriversError) as caught:
        rpc.Client(timeout=10).call(url, "change_power_state", CTX, host="c1",
                                    node="n1", ident="n1")
    assert caught.value.code == 503
    message = str(caught.value)
    assert "routed to conductor c1 but reached conductor c2" in message, message
    assert "[json_rpc] advertise_host" in message
    assert target.acted == []


def test_a_call_routed_to_this_conductor_is_served(c2):
    target, url = c2
    assert rpc.Client(timeout=10).call(url, "change_power_state", CTX, host="c2",
                                       node="n1", ident="n1") == "accepted"
    assert target.acted == ["n1"]
