"""An API process that gives up on a conductor says which setting bounded its wait.

The 503 said "no answer within 150s" and nothing more: the operator whose
slow BMCs outlast it could not tell whether to raise [json_rpc] timeout
(hardware waits) or whether the short wait came from the request's lock
wait (calls answered at once). It now names the one that applied.

A real waitress listener on 127.0.0.1 that never answers in time; the
routing manager runs on SQLite, as the API's own reads do not matter here.
"""

import threading

import pytest
import waitress

from hwdrivers.cmd import server as server_mod
from hwdrivers.common import context as hw_context
from hwdrivers.conductor import rpc
from hwdrivers.conductor import rpc_api
from hwdrivers.db import api as db_api


class _Stalled:
    """A conductor that accepted the call and does not answer it."""

    def __init__(self):
        self.release = threading.Event()

    def get_boot_device(self, context, ident):
        self.release.wait(30)
        return {"boot_device": "pxe", "persistent": False}


class _Rings:
    def __init__(self, url):
        self.url = url

    def owner(self, group, key, ident, hardware_type=None):
        return "c1"

    def conductor(self, host):
        return {"rpc_url": self.url}


@pytest.fixture
def stalled_url():
    target = _Stalled()
    server = waitress.create_server(rpc.make_app(target, ("get_boot_device",)),
                                    host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % int(server.effective_port)
    target.release.set()
    server_mod.close_listener(server, thread)


def test_a_hardware_wait_that_runs_out_names_json_rpc_timeout(sqlite_database, config,
                                                              stalled_url):
    config(json_rpc__timeout=1)
    node = db_api.create_node({"driver": "fake-hardware", "name": "slow1"})
    manager = rpc_api.RoutingManager(rings=_Rings(stalled_url))
    with pytest.raises(rpc.ConductorUnreachable) as caught:
        manager.get_boot_device(hw_context.get_admin_context(), node["uuid"])
    assert caught.value.code == 503
    assert "no answer within 1s ([json_rpc] timeout) at " in str(caught.value)


def test_a_call_answered_at_once_names_the_lock_wait(sqlite_database, config):
    manager = rpc_api.RoutingManager(rings=_Rings("http://127.0.0.1:9"))
    context = hw_context.get_admin_context()
    context.lock_wait = 5
    seconds = manager.answer_timeout("change_power_state", context, {"wait": False})
    assert seconds == 5 + rpc_api.ANSWER_MARGIN
    assert "[api] node_locked_wait" in manager.answer_timeout_option(seconds)
    seconds = manager.answer_timeout("get_boot_device", context, {})
    assert manager.answer_timeout_option(seconds) == "[json_rpc] timeout"
