"""PDUDaemon listener: a request sent during a delayed one's wait runs after it.

A delayed request ran in a worker of its own, outside the node's queue: an
``off`` sent while a ``reboot&delay=N`` waited between its off and on ran at
once, and the reboot's ``on`` came last, leaving the board on, although the
node's requests are documented to run in the order they came. Same setting
as test_pdudaemon.py.
"""

import time

from hwdrivers.common.states import PowerState
from tests.api.test_pdudaemon import CTX, pdu_state, pdudaemon_queues, settle
from tests.api.test_pdudaemon import client, nodes, service  # noqa: F401 (fixtures)


def _record_power_changes(svc, monkeypatch):
    seen = []
    real = svc.manager.change_power_state

    def recording(context, ident, target, **kwargs):
        seen.append(target)
        return real(context, ident, target, **kwargs)

    monkeypatch.setattr(svc.manager, "change_power_state", recording)
    return seen


def _drained(app, timeout=20):
    deadline = time.monotonic() + timeout
    while pdudaemon_queues(app) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not pdudaemon_queues(app)


def test_off_sent_during_a_delayed_reboot_runs_after_it(client, service, nodes,  # noqa: F811
                                                        monkeypatch):
    service.manager.change_power_state(CTX, "pdu-node-11", "power on")
    seen = _record_power_changes(service, monkeypatch)
    reboot = client.get("/power/control/reboot?alias=pdu-node-11&delay=0.5")
    assert reboot.status_code == 200 and "after 0.5 s" in reboot.text, reboot.text
    off = client.get("/power/control/off?alias=pdu-node-11")
    assert off.status_code == 200, off.text
    assert "queued behind the node's current operation" in off.text
    _drained(client)
    settle("pdu-node-11")
    assert seen == ["power off", "power on", "power off"]
    assert pdu_state(service, "pdu-node-11") == PowerState.OFF  # the last one asked


def test_a_delayed_request_on_a_free_node_still_waits_only_its_delay(
        client, service, nodes, monkeypatch):  # noqa: F811
    service.manager.change_power_state(CTX, "pdu-node-12", "power off")
    seen = _record_power_changes(service, monkeypatch)
    response = client.get("/power/control/on?alias=pdu-node-12&delay=0.2")
    assert response.status_code == 200 and "queued" not in response.text, response.text
    _drained(client)
    settle("pdu-node-12")
    assert seen == ["power on"]
    assert pdu_state(service, "pdu-node-12") == PowerState.ON
