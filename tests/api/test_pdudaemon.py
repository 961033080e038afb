"""The PDUDaemon-compatible listener, driving snmp nodes on the snmpsim PDU.

The nodes are real snmp nodes in a real (SQLite) database, operations run
through the conductor manager and its worker pool, and the outlet state is
read back from the emulated PDU (tests/fixtures/snmp_agent.py).
"""

import threading
import time

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.api import pdudaemon
from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import secrets
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import task_manager
from hwdrivers.conductor import service as service_mod
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from hwdrivers.db import models

CTX = hw_context.get_admin_context()


def _snmp_config(config, **extra):
    config(enabled_hardware_types=["snmp", "fake-hardware"],
           enabled_power_interfaces=["snmp", "fake"],
           snmp__reboot_delay=0.05, snmp__timeout=0.3, snmp__retries=1,
           snmp__command_retry_timeout=1.0, snmp__power_timeout=2.0,
           conductor__node_locked_retry_timeout=0.2,
           conductor__sync_power_state_interval=0, **extra)


@pytest.fixture
def service(config, sqlite_database):
    """The real conductor service (workers, recovery, heartbeat) on SQLite."""
    _snmp_config(config, conductor__workers_pool_size=4)
    svc = service_mod.ConductorService(hw_conf.CONF)
    svc.start()
    yield svc
    svc.stop(timeout=10)


@pytest.fixture
def nodes(service, snmp_agent):
    made = {}
    for name, outlet in (("pdu-node-11", 11), ("pdu-node-12", 12)):
        made[name] = service.manager.create_node(CTX, {
            "driver": "snmp", "name": name,
            "driver_info": snmp_agent.driver_info("apc", outlet)})
    return made


@pytest.fixture
def client(service):
    return pdudaemon.make_app(service, hw_conf.CONF).test_client()


def settle(ident, timeout=10):
    """Wait until the node's operation finished (no target, no lease)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db_api.get_node(ident)
        if row["target_power_state"] is None and row["reservation"] is None:
            return row
        time.sleep(0.02)
    raise AssertionError("node %s did not settle: %s" % (ident, row))


def pdudaemon_queues(client):
    """The waiting requests of the app's listener (node UUID -> queue)."""
    return client.application.config["hwdrivers.pdudaemon.listener"]._queues


def pdu_state(service, ident):
    return service.manager.get_power_state(CTX, ident)


def test_on_off_by_pdu_hostname_and_outlet(client, service, nodes, snmp_agent):
    response = client.get("/power/control/on?hostname=%s&port=11" % snmp_agent.address)
    assert response.status_code == 200, response.text
    assert response.text.startswith("OK - accepted request: power on of node pdu-node-11")
    row = settle("pdu-node-11")
    assert row["power_state"] == "power on" and row["last_error"] is None
    assert pdu_state(service, "pdu-node-11") == PowerState.ON

    # Outlet given as "012" and the host in another case still match.
    response = client.get("/power/control/off?hostname=%s&port=012"
                          % snmp_agent.address.upper())
    assert response.status_code == 200, response.text
    settle("pdu-node-12")
    assert pdu_state(service, "pdu-node-12") == PowerState.OFF
    assert pdu_state(service, "pdu-node-11") == PowerState.ON  # untouched


def test_alias_is_a_node_name_or_uuid(client, service, nodes):
    assert client.get("/power/control/off?alias=pdu-node-11").status_code == 200
    settle("pdu-node-11")
    assert pdu_state(service, "pdu-node-11") == PowerState.OFF
    uuid = nodes["pdu-node-11"].uuid
    assert client.get("/power/control/on?alias=%s" % uuid).status_code == 200
    settle("pdu-node-11")
    assert pdu_state(service, "pdu-node-11") == PowerState.ON


def test_reboot_without_delay_uses_the_driver_reboot(client, service, nodes):
    service.manager.change_power_state(CTX, "pdu-node-11", "power off")
    assert client.get("/power/control/reboot?alias=pdu-node-11").status_code == 200
    settle("pdu-node-11")
    assert pdu_state(service, "pdu-node-11") == PowerState.ON


def test_reboot_with_delay_is_off_wait_on(client, service, nodes, monkeypatch):
    seen = []
    real = service.manager.change_power_state

    def recording(context, ident, target, **kwargs):
        seen.append((target, time.monotonic()))
        return real(context, ident, target, **kwargs)

    monkeypatch.setattr(service.manager, "change_power_state", recording)
    service.manager.change_power_state(CTX, "pdu-node-11", "power on")
    seen.clear()
    response = client.get("/power/control/reboot?alias=pdu-node-11&delay=1")
    answered = time.monotonic()
    assert response.status_code == 200 and "after 1 s" in response.text
    deadline = time.monotonic() + 10
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    settle("pdu-node-11")
    assert [target for target, _ in seen] == ["power off", "power on"]
    assert seen[1][1] - seen[0][1] >= 1
    assert answered < seen[1][1]  # accepted at once; the rest runs in a worker
    assert pdu_state(service, "pdu-node-11") == PowerState.ON


def test_delay_before_on(client, service, nodes, monkeypatch):
    service.manager.change_power_state(CTX, "pdu-node-12", "power off")
    seen = []
    real = service.manager.change_power_state

    def recording(context, ident, target, **kwargs):
        seen.append(time.monotonic())
        return real(context, ident, target, **kwargs)

    monkeypatch.setattr(service.manager, "change_power_state", recording)
    start = time.monotonic()
    assert client.get("/power/control/on?alias=pdu-node-12&delay=0.2").status_code == 200
    deadline = time.monotonic() + 10
    while (db_api.get_node("pdu-node-12")["power_state"] != "power on"
           and time.monotonic() < deadline):
        time.sleep(0.02)
    assert len(seen) == 1 and seen[0] - start >= 0.2  # the action began after the delay
    assert pdu_state(service, "pdu-node-12") == PowerState.ON


@pytest.mark.parametrize("query,fragment", [
    ("/power/control/sideways?alias=pdu-node-11", "Unknown command 'sideways'"),
    ("/power/control/on", "Missing hostname and port"),
    ("/power/control/on?hostname=127.0.0.1", "Missing port"),
    ("/power/control/on?port=3", "Missing hostname"),
    ("/power/control/on?hostname=127.0.0.1&port=x", "port must be the PDU outlet number"),
    ("/power/control/on?hostname=127.0.0.1&port=0", "port must be the PDU outlet number"),
    ("/power/control/on?hostname=127.0.0.1&port=1_1", "port must be the PDU outlet number"),
    ("/power/control/on?hostname=127.0.0.1&port=%2B11", "port must be the PDU outlet number"),
    ("/power/control/on?hostname=127.0.0.1&port=%D9%A1%D9%A1",
     "port must be the PDU outlet number"),
    ("/power/control/on?alias=pdu-node-11&hostname=127.0.0.1", "either alias or hostname"),
    ("/power/control/on?alias=pdu-node-11&delay=-1", "delay must be a number"),
    ("/power/control/on?alias=pdu-node-11&delay=soon", "delay must be a number"),
    ("/power/control/on?alias=pdu-node-11&delay=nan", "delay must be a number"),
    ("/power/control/on?alias=pdu-node-11&delay=3601", "from 0 to 3600"),
    ("/power/control/on?alias=pdu-node-11&outlet=3", "Unknown parameter(s) outlet"),
])
def test_bad_requests_get_400_and_change_nothing(client, nodes, query, fragment):
    before = db_api.get_node("pdu-node-11")
    response = client.get(query)
    assert response.status_code == 400
    assert fragment in response.text
    assert response.mimetype == "text/plain"
    after = db_api.get_node("pdu-node-11")
    assert after["power_state"] == before["power_state"]
    assert after["target_power_state"] is None


def test_unknown_outlet_alias_and_path_get_404(client, nodes, snmp_agent):
    response = client.get("/power/control/on?hostname=%s&port=13" % snmp_agent.address)
    assert response.status_code == 404
    assert "snmp_address=%s and snmp_outlet=13" % snmp_agent.address in response.text
    response = client.get("/power/control/on?alias=nope")
    assert response.status_code == 404 and "No node is named 'nope'" in response.text
    response = client.get("/power/status")
    assert response.status_code == 404 and "/power/control/" in response.text
    assert client.post("/power/control/on?alias=pdu-node-11").status_code == 405


def test_two_nodes_on_one_outlet_is_a_409(client, service, nodes, snmp_agent):
    service.manager.create_node(CTX, {
        "driver": "snmp", "name": "pdu-node-dup",
        "driver_info": snmp_agent.driver_info("apc", 11)})
    response = client.get("/power/control/on?hostname=%s&port=11" % snmp_agent.address)
    assert response.status_code == 409
    assert "pdu-node-11" in response.text and "pdu-node-dup" in response.text


def test_a_node_with_unreadable_secrets_does_not_stop_another_outlet(client, service, nodes,
                                                                    snmp_agent):
    """Finding the node behind an outlet reads plain fields only: one node
    whose secrets cannot be opened (its key lost) used to fail every request."""
    info = dict(snmp_agent.driver_info("apc", 14), snmp_community={secrets.ENVELOPE: "lost"})
    broken = service.manager.create_node(CTX, {"driver": "snmp", "name": "pdu-node-14"})
    with db_engine.writer() as conn:  # as sealed by a lost key (the API refuses envelopes)
        conn.execute(models.nodes.update().where(models.nodes.c.id == broken.id)
                     .values(driver_info=info))
    with pytest.raises(secrets.SecretUnreadable):
        db_api.get_node("pdu-node-14")
    response = client.get("/power/control/on?hostname=%s&port=11" % snmp_agent.address)
    assert response.status_code == 200, response.text
    assert settle("pdu-node-11")["power_state"] == PowerState.ON
    response = client.get("/power/control/on?hostname=%s&port=14" % snmp_agent.address)
    assert response.status_code == 503 and "pdu-node-14" in response.text


def test_a_busy_node_queues_requests_and_runs_them_in_order(client, service, nodes):
    """As PDUDaemon: a request for a node busy with another operation is
    accepted and waits its turn; the node's requests run in the order they came."""
    with task_manager.acquire(CTX, "pdu-node-11", purpose="hold"):
        for command in ("on", "off", "on", "off"):
            response = client.get("/power/control/%s?alias=pdu-node-11" % command)
            assert response.status_code == 200, response.text
            assert "queued behind the node's current operation" in response.text
        time.sleep(0.5)  # they wait: nothing runs while the lock is held
        assert db_api.get_node("pdu-node-11")["target_power_state"] is None
    deadline = time.monotonic() + 20
    while pdudaemon_queues(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pdudaemon_queues(client)
    settle("pdu-node-11")
    assert pdu_state(service, "pdu-node-11") == PowerState.OFF  # the last one asked
    # With its queue drained, the next request runs at once again.
    response = client.get("/power/control/on?alias=pdu-node-11")
    assert response.status_code == 200 and "queued" not in response.text
    settle("pdu-node-11")
    assert pdu_state(service, "pdu-node-11") == PowerState.ON


def test_a_request_still_waiting_after_queue_timeout_is_dropped_and_logged(
        config, client, service, nodes, caplog):
    config(pdudaemon__queue_timeout=0.3)
    listener = pdudaemon.Listener(service, hw_conf.CONF)
    with caplog.at_level("ERROR"), task_manager.acquire(CTX, "pdu-node-12",
                                                        purpose="hold"):
        assert listener.handle("off", {"alias": "pdu-node-12"})[0] == 200
        deadline = time.monotonic() + 10
        while listener._queues and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not listener._queues
    assert any("dropped" in r.getMessage() and "queue_timeout" in r.getMessage()
               for r in caplog.records)
    assert db_api.get_node("pdu-node-12")["target_power_state"] is None


def test_a_full_node_queue_is_a_503(config, service, nodes):
    listener = pdudaemon.Listener(service, hw_conf.CONF)
    with task_manager.acquire(CTX, "pdu-node-12", purpose="hold"):
        answers = [listener.handle("on", {"alias": "pdu-node-12"})
                   for _ in range(pdudaemon.MAX_QUEUED + 1)]
        assert [status for status, _ in answers[:-1]] == [200] * pdudaemon.MAX_QUEUED
        assert answers[-1][0] == 503 and "requests waiting" in answers[-1][1]
    service.workers.stopping = True  # the waiting ones are dropped, not run
    deadline = time.monotonic() + 10
    while listener._queues and time.monotonic() < deadline:
        time.sleep(0.05)
    service.workers.stopping = False
    assert not listener._queues


def test_no_free_worker_is_a_503_and_changes_nothing(config, sqlite_database, snmp_agent):
    _snmp_config(config, conductor__workers_pool_size=1)
    svc = service_mod.ConductorService(hw_conf.CONF)
    svc.start()
    release = threading.Event()
    svc.workers.submit(release.wait, 10)  # the only worker is busy
    try:
        svc.manager.create_node(CTX, {"driver": "snmp", "name": "busy",
                                      "driver_info": snmp_agent.driver_info("apc", 14)})
        client = pdudaemon.make_app(svc, hw_conf.CONF).test_client()
        for query in ("/power/control/on?alias=busy",
                      "/power/control/on?alias=busy&delay=1"):
            response = client.get(query)
            assert response.status_code == 503, query
            assert "No free worker" in response.text
        row = db_api.get_node("busy")
        assert row["reservation"] is None and row["target_power_state"] is None
    finally:
        release.set()
        svc.stop(timeout=10)


def test_service_shutting_down_is_a_503(config, service, nodes):
    service.stop(timeout=10)
    response = pdudaemon.make_app(service, hw_conf.CONF).test_client().get(
        "/power/control/on?alias=pdu-node-11")
    assert response.status_code == 503 and "Not accepted" in response.text
    assert db_api.get_node("pdu-node-11")["target_power_state"] is None


def test_non_loopback_host_needs_allow_remote(config, service):
    config(pdudaemon__host="0.0.0.0")
    with pytest.raises(exception.ConfigInvalid, match="allow_remote"):
        pdudaemon.make_app(service, hw_conf.CONF)
    config(pdudaemon__allow_remote=True)
    assert pdudaemon.make_app(service, hw_conf.CONF) is not None
    config(pdudaemon__host="::1", pdudaemon__allow_remote=False)
    assert pdudaemon.make_app(service, hw_conf.CONF) is not None


def test_defaults(config):
    group = hw_conf.CONF.pdudaemon
    assert (group.enabled, group.host, group.port) == (False, "127.0.0.1", 16421)


def test_listener_in_the_real_server(config, tmp_path, snmp_agent):
    """hwdrivers-server with [pdudaemon] enabled drives an outlet of the emulated PDU."""
    import urllib.error
    import urllib.request

    from hwdrivers.drivers import task as driver_task
    from tests.functional.server_proc import ServerProcess, free_tcp_port
    from tests.waits import wait_for

    pdu_port = free_tcp_port()
    server = ServerProcess(tmp_path, {
        "DEFAULT": {"enabled_hardware_types": "fake-hardware,snmp",
                    "enabled_power_interfaces": "fake,snmp"},
        "snmp": {"reboot_delay": 0.05, "timeout": 0.3, "retries": 1,
                 "command_retry_timeout": 1.0, "power_timeout": 2.0},
        "pdudaemon": {"enabled": "true", "port": pdu_port},
    }).start()
    try:
        wait_for(lambda: "serving PDUDaemon on http://127.0.0.1:%d" % pdu_port
                   in server.log(), timeout=10, interval=0.1, message="the PDUDaemon listener")
        status, doc = server.call("POST", "/v1/nodes", {
            "driver": "snmp", "name": "board-16",
            "driver_info": snmp_agent.driver_info("apc", 16)})
        assert status == 201, doc

        def pdu(command, query):
            url = "http://127.0.0.1:%d/power/control/%s?%s" % (pdu_port, command, query)
            try:
                with urllib.request.urlopen(url, timeout=30) as resp:
                    return resp.status, resp.read().decode()
            except urllib.error.HTTPError as err:
                return err.code, err.read().decode()

        for command, expected in (("off", "power off"), ("on", "power on"),
                                  ("reboot", "power on")):
            status, text = pdu(command, "hostname=%s&port=16" % snmp_agent.address)
            assert status == 200, text

            def done():
                states = server.call("GET", "/v1/nodes/board-16/states")[1]
                return states if states["target_power_state"] is None else None

            states = wait_for(done, timeout=30, interval=0.1, message="PDUDaemon %s" % command)
            assert states["power_state"] == expected and states["last_error"] is None
        # The outlet itself, read straight from the PDU.
        _snmp_config(config)
        task = driver_task.StandaloneTask.for_driver(
            "snmp", driver_info=snmp_agent.driver_info("apc", 16), name="check")
        assert task.driver.power.get_power_state(task) == PowerState.ON
        status, text = pdu("on", "hostname=%s&port=17" % snmp_agent.address)
        assert status == 404 and "snmp_outlet=17" in text
    finally:
        assert server.stop() == 0


# -- PDUDaemon's TCP protocol (pduclient's default mode) -------------------------------

@pytest.fixture
def tcp_listener(service):
    from hwdrivers.api import pdudaemon_tcp
    server = pdudaemon_tcp.TCPListener(service, "127.0.0.1", 0, hw_conf.CONF)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server
    server.close()
    thread.join(10)


def tcp_request(server, *parts, pause=0.0):
    """Send ``parts`` (with ``pause`` between them) and read until the server closes."""
    import socket
    with socket.create_connection(("127.0.0.1", server.effective_port), timeout=30) as sock:
        for part in parts:
            sock.sendall(part.encode() if isinstance(part, str) else part)
            time.sleep(pause)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer.decode()


def test_tcp_request_without_terminator_is_acked_and_runs(tcp_listener, service, nodes,
                                                           snmp_agent):
    service.manager.change_power_state(CTX, "pdu-node-11", "power on")
    # As pduclient sends it: no newline, the socket left open for the answer.
    assert tcp_request(tcp_listener, "%s 11 off" % snmp_agent.address) == "ack\n"
    settle("pdu-node-11")
    assert pdu_state(service, "pdu-node-11") == PowerState.OFF
    # Split over two packets, the second after a pause, and with a delay field.
    assert tcp_request(tcp_listener, "%s 11 o" % snmp_agent.address, "n 0\n",
                       pause=0.2) == "ack\n"
    settle("pdu-node-11")
    assert pdu_state(service, "pdu-node-11") == PowerState.ON


@pytest.mark.parametrize("request_text,fragment", [
    ("127.0.0.1 11", "expected 3 or 4 fields, got 2"),
    ("127.0.0.1 11 on 1 2\n", "expected 3 or 4 fields, got 5"),
    ("127.0.0.1 11 sideways\n", "unknown command 'sideways'"),
    ("127.0.0.1 x on\n", "port must be the PDU outlet number"),
    ("127.0.0.1 11 on soon\n", "delay must be a number"),
    (b"127.0.0.1 11 on \xff\n", "not UTF-8"),
    ("x" * 16385, "longer than 16384 bytes"),  # all of it read: no reset
])
def test_bad_tcp_requests_get_nack_with_the_reason(tcp_listener, nodes, request_text,
                                                   fragment):
    answer = tcp_request(tcp_listener, request_text)
    assert answer.startswith("nack: ") and fragment in answer, answer
    row = db_api.get_node("pdu-node-11")
    assert row["target_power_state"] is None and row["reservation"] is None


def test_tcp_refusals_carry_the_listener_text(tcp_listener, nodes, snmp_agent):
    answer = tcp_request(tcp_listener, "%s 13 on" % snmp_agent.address)
    assert answer.startswith("nack: No node has driver_info snmp_address=")
    with task_manager.acquire(CTX, "pdu-node-11", purpose="hold"):
        answer = tcp_request(tcp_listener, "%s 11 off" % snmp_agent.address)
    assert answer.startswith("ack"), answer  # queued behind the holder, as PDUDaemon
    settle("pdu-node-11")


def test_tcp_listener_checks_the_host_and_closes_unstarted(config, service):
    from hwdrivers.api import pdudaemon_tcp
    config(pdudaemon__host="0.0.0.0")
    with pytest.raises(exception.ConfigInvalid, match="allow_remote"):
        pdudaemon_tcp.TCPListener(service, "0.0.0.0", 0, hw_conf.CONF)
    config(pdudaemon__host="127.0.0.1")
    server = pdudaemon_tcp.TCPListener(service, "127.0.0.1", 0, hw_conf.CONF)
    server.close()  # never ran: must not wait for a serve loop
    server.run()    # after close: returns at once instead of serving a closed socket
