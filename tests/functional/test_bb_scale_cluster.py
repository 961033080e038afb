"""Scale-out misconfiguration and failure cases, on real conductor and API processes.

One small cluster (tests/functional/scale_cluster.py) serves the module:
fake-hardware power changes take a few seconds, so an operation is still
running when the test does something to its conductor.
"""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from hwdrivers.conductor import rpc
from tests.functional import scale_cluster
from tests.functional.scale_cluster import wait_for

#: Seconds each fake-hardware power call sleeps: long enough to act mid-operation.
POWER_DELAY = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path_factory.mktemp("bbscale"), _postgresql)
    try:
        cluster.add_conductor("c1", {"fake": {"power_delay": POWER_DELAY}})
        cluster.add_api("api1")
        cluster.wait_live(["c1"])
        yield cluster
    finally:
        cluster.close()


def _create(cluster, name, **fields):
    status, doc = cluster.apis[0].call("POST", "/v1/nodes", dict(
        {"driver": "fake-hardware", "name": name}, **fields))
    assert status == 201, doc
    return doc


def _run_conductor(cluster, name, config_host, timeout=30, kind="conductor"):
    """``(exit code, stderr)`` of hwdrivers-conductor with ``[DEFAULT] host = config_host``.

    The exit code is None when it was still running after ``timeout`` (it
    is then killed).
    """
    proc = scale_cluster.Proc(cluster, kind, name, cluster._sections(config_host, {
        "DEFAULT": {"state_path": str(cluster.tmp / name / "state")}}))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(proc.dir / "state"))
    child = subprocess.Popen(
        [os.path.join(scale_cluster.BIN, "hwdrivers-%s" % kind), "--config-file",
         str(proc.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env)
    try:
        _, stderr = child.communicate(timeout=timeout)
        return child.returncode, stderr
    except subprocess.TimeoutExpired:
        child.kill()
        _, stderr = child.communicate()
        return None, stderr


def test_a_second_conductor_with_a_running_ones_host_is_refused(cluster):
    node = _create(cluster, "dup1")
    status, body = cluster.apis[0].call("PUT", "/v1/nodes/dup1/states/power",
                                        {"target": "power on"})
    assert status == 202, body
    wait_for(lambda: cluster.node(node["uuid"])["reservation"], 10, "the power lock",
             cluster.logs)

    # Another machine configured with the same [DEFAULT] host by mistake.
    code, stderr = _run_conductor(cluster, "c1-clone", "c1")
    assert code == 1, stderr[-3000:]
    assert "[DEFAULT] host = c1 is already running" in stderr, stderr[-3000:]
    assert "unique [DEFAULT] host" in stderr

    # The running conductor's operation was left alone and finished.
    wait_for(lambda: cluster.node(node["uuid"])["power_state"] == "power on",
             4 * POWER_DELAY + 10, "dup1 powered on", cluster.logs)
    row = cluster.node(node["uuid"])
    assert row["last_error"] is None, row["last_error"]
    (conductor,) = cluster.rows("SELECT rpc_url, online FROM conductors "
                                "WHERE hostname = 'c1'")
    assert conductor == {"rpc_url": cluster.conductors["c1"].url, "online": True}


@pytest.mark.parametrize("host", ["", "c1:b", "rack 1", "h" * 256])
@pytest.mark.parametrize("kind", ["conductor", "api"])
def test_a_host_that_cannot_name_locks_is_refused_at_start(cluster, kind, host):
    # 'c1:b' owns locks 'c1:b:<token>', which c1's restart or death released
    # (prefix 'c1:'); 256 characters failed on the database, blaming it.
    code, stderr = _run_conductor(cluster, "badhost-%s" % kind, host, kind=kind)
    assert code == 1, stderr[-3000:]
    assert "[DEFAULT] host = %r" % host[:80] in stderr, stderr[-3000:]
    assert "database" not in stderr
    assert not cluster.rows("SELECT hostname FROM conductors WHERE hostname = :h", h=host)


def test_a_conductor_killed_mid_operation_restarts_at_once(cluster):
    node = _create(cluster, "dup2")
    status, body = cluster.apis[0].call("PUT", "/v1/nodes/dup2/states/power",
                                        {"target": "power on"})
    assert status == 202, body
    wait_for(lambda: cluster.node(node["uuid"])["reservation"], 10, "the power lock",
             cluster.logs)
    old = cluster.conductors["c1"]
    old.signal(signal.SIGKILL)
    old.proc.wait(30)
    # Restarted at once (systemd Restart=on-failure): its row is still fresh,
    # but nothing answers at its recorded URL, so this is its next life.
    started = time.monotonic()
    cluster.conductors["c1"] = scale_cluster.Proc(
        cluster, "conductor", "c1", cluster._sections(
            "c1", {"fake": {"power_delay": POWER_DELAY}})).start()
    assert time.monotonic() - started < cluster.timing["heartbeat_timeout"] + 20
    row = cluster.node(node["uuid"])
    assert row["reservation"] is None
    assert "aborted by a conductor restart" in (row["last_error"] or "")


@pytest.mark.parametrize("group", ["dc2\n", "dc2\n\n"])
def test_a_node_group_with_a_trailing_newline_is_refused(cluster, group):
    # Accepted, it named a group no conductor's configuration can: every
    # action on the node was a 503 asking for a conductor of group 'dc2\n'.
    status, body = cluster.apis[0].call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "nl-create", "conductor_group": group})
    assert status == 400, body
    assert "conductor_group" in str(body)
    _create(cluster, "nl-patch")
    status, body = cluster.apis[0].call("PATCH", "/v1/nodes/nl-patch", [
        {"op": "replace", "path": "/conductor_group", "value": group}])
    assert status == 400, body
    assert cluster.rows("SELECT conductor_group FROM nodes WHERE name = 'nl-patch'") == [
        {"conductor_group": ""}]
    cluster.apis[0].call("DELETE", "/v1/nodes/nl-patch")


def test_a_conductor_group_no_node_can_name_is_refused_at_start(cluster, tmp_path):
    # Unicode letters passed str.isalnum(), but a node's conductor_group
    # accepts ASCII only: that conductor would never drive a node.
    status, body = cluster.apis[0].call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "nl-u", "conductor_group": "dc\u00e9"})
    assert status == 400, body
    proc = scale_cluster.Proc(cluster, "conductor", "c-unicode", cluster._sections(
        "c-unicode", {"conductor": {"conductor_group": "dc\u00e9"}}))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(proc.dir / "state"))
    result = subprocess.run(
        [os.path.join(scale_cluster.BIN, "hwdrivers-conductor"), "--config-file",
         str(proc.config_path)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "[conductor] conductor_group = 'dc\u00e9'" in result.stderr
    assert "ASCII" in result.stderr
    assert not cluster.rows("SELECT hostname FROM conductors WHERE hostname = 'c-unicode'")


# -- a conductor that accepts connections but does not answer ---------------------------

@pytest.fixture
def frozen_cluster(tmp_path, _postgresql):
    """Two conductors in two groups, and the default heartbeat_timeout: a frozen
    conductor stays on the ring for a minute, as in production."""
    cluster = scale_cluster.Cluster(tmp_path, _postgresql, timing={
        "heartbeat_timeout": 60, "lease_duration": 60})
    try:
        cluster.add_conductor("f1")
        cluster.add_conductor("f2", {"conductor": {"conductor_group": "g2"}})
        cluster.add_api("fapi")
        cluster.wait_live(["f1"])
        yield cluster
    finally:
        for proc in cluster.conductors.values():
            if proc.proc is not None and proc.proc.poll() is None:
                proc.signal(signal.SIGCONT)
        cluster.close()


def test_a_frozen_conductor_does_not_hold_the_api_threads(frozen_cluster):
    cluster = frozen_cluster
    api = cluster.apis[0]
    for index in range(10):
        _create(cluster, "f1-%d" % index)
    _create(cluster, "f2-0", conductor_group="g2")
    cluster.conductors["f1"].signal(signal.SIGSTOP)  # a frozen VM: the port still accepts

    results = {}

    def power(name):
        started = time.monotonic()
        status, body = api.call("PUT", "/v1/nodes/%s/states/power" % name,
                                {"target": "power on"}, timeout=200)
        results[name] = (status, time.monotonic() - started, body)

    # More requests for the frozen conductor's nodes than the API has threads (8).
    threads = [threading.Thread(target=power, args=("f1-%d" % i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    power("f2-0")  # another group's node, on a conductor that answers
    for thread in threads:
        thread.join(200)
    status, elapsed, body = results["f2-0"]
    assert status == 202, body
    # It waited for a thread, but not for [json_rpc] timeout (150 s).
    assert elapsed < 40, results
    for index in range(10):
        status, elapsed, body = results["f1-%d" % index]
        assert status == 503, body
        assert "Conductor f1" in str(body)
        assert elapsed < 60, results
    # Known silent now: refused at once, saying why, until it answers again.
    power("f1-0")
    status, elapsed, body = results["f1-0"]
    assert status == 503 and elapsed < 3, results["f1-0"]
    assert "no answer within" in str(body)

    cluster.conductors["f1"].signal(signal.SIGCONT)
    time.sleep(rpc.SILENT_RETRY + 1)
    wait_for(lambda: power("f1-1") or results["f1-1"][0] == 202, 30,
             "f1 answering again", cluster.logs)


# -- failed JSON-RPC logins -------------------------------------------------------------

@pytest.fixture
def auth_cluster(tmp_path, _postgresql):
    """One conductor with [json_rpc] auth_strategy = http_basic, one API process."""
    import bcrypt

    users = tmp_path / "htpasswd-json-rpc"
    users.write_text("hwdrivers-api:%s\n" % bcrypt.hashpw(
        RPC_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode())
    rpc_auth = {"json_rpc": {"auth_strategy": "http_basic",
                             "http_basic_auth_user_file": str(users),
                             "http_basic_username": "hwdrivers-api",
                             "http_basic_password": RPC_PASSWORD}}
    cluster = scale_cluster.Cluster(tmp_path, _postgresql)
    try:
        cluster.add_conductor("a1", rpc_auth)
        cluster.add_api("aapi", rpc_auth)
        cluster.wait_live(["a1"])
        yield cluster
    finally:
        cluster.close()


RPC_PASSWORD = "Rpc-Pass-1"


def _bad_logins(url, source, seconds=30):
    """Wrong passwords for the documented RPC user from ``source`` (an address),
    until the conductor refuses them for several seconds more."""
    import base64
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    token = base64.b64encode(b"hwdrivers-api:guess").decode()
    statuses = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10,
                                          source_address=(source, 0))
        conn.request("POST", "/", body=b"{}", headers={"Authorization": "Basic " + token})
        response = conn.getresponse()
        statuses.append(response.status)
        conn.close()
        if response.status == 429 and int(response.getheader("Retry-After")) >= 4:
            break
        time.sleep(0.2)
    return statuses


def test_failed_rpc_logins_from_elsewhere_do_not_lock_the_api_out(auth_cluster):
    cluster = auth_cluster
    conductor_url = cluster.conductors["a1"].url
    _create(cluster, "a-0")
    # Another machine (127.0.0.2) guessing the documented user's password, or an
    # API process there with a stale one, until the conductor throttles it.
    statuses = _bad_logins(conductor_url, "127.0.0.2")
    assert statuses[-1] == 429, statuses
    # This API process (127.0.0.1), with the right password, is not locked out.
    status, body = cluster.apis[0].call("PUT", "/v1/nodes/a-0/states/power",
                                        {"target": "power on"})
    assert status == 202, body


def test_throttled_rpc_logins_are_said_as_such(auth_cluster):
    cluster = auth_cluster
    _create(cluster, "a-1")
    # A process on the API's own machine sends a wrong password.
    statuses = _bad_logins(cluster.conductors["a1"].url, "127.0.0.1")
    assert statuses[-1] == 429, statuses
    status, body = cluster.apis[0].call("PUT", "/v1/nodes/a-1/states/power",
                                        {"target": "power on"})
    assert status == 503, body
    text = str(body)
    assert "refuses JSON-RPC logins" in text and "http_basic_password" in text, text
    assert "does not answer" not in text  # it answered: it is not dead
    assert RPC_PASSWORD not in text


def test_conductor_list_pages_and_sorts_as_ironic(cluster):
    if "c9" not in cluster.conductors:
        cluster.add_conductor("c9", {"conductor": {"conductor_group": "g9"}})
    api = cluster.apis[0]

    def hosts(query):
        status, body = api.call("GET", "/v1/conductors" + query)
        assert status == 200, body
        return [d.get("hostname") for d in body["conductors"]], body.get("next")

    everyone = sorted(hosts("")[0])
    assert {"c1", "c9"} <= set(everyone)
    # limit, marker, sort_key and sort_dir were accepted and ignored.
    first, next_url = hosts("?limit=1")
    assert first == everyone[:1]
    assert next_url.endswith("/v1/conductors?limit=1&marker=%s" % everyone[0])
    assert hosts("?limit=1&marker=%s" % everyone[0])[0] == everyone[1:2]
    assert hosts("?sort_dir=desc")[0] == everyone[::-1]
    status, body = api.call("GET", "/v1/conductors?sort_key=conductor_group&sort_dir=desc"
                                   "&fields=conductor_group")
    assert status == 200 and body["conductors"][0]["conductor_group"] == "g9", body
    # A page without the hostname field still links the next one.
    status, body = api.call("GET", "/v1/conductors?limit=1&fields=owned_nodes")
    assert status == 200 and "marker=%s" % everyone[0] in body["next"], body
    for query, words in (("?sort_key=bogus", "cannot sort conductors by 'bogus'"),
                         ("?sort_dir=up", "sort direction 'up'"),
                         ("?marker=nope", "marker nope"), ("?limit=x", "limit")):
        status, body = api.call("GET", "/v1/conductors" + query)
        assert status == 400, (query, body)
        assert words in json.loads(body["error_message"])["faultstring"], body


@pytest.mark.parametrize("advertise", ["http://c4.example", "c4.example:8089", "c4/x",
                                       "0.0.0.0"])
def test_an_advertise_host_api_processes_cannot_call_is_refused(cluster, advertise):
    proc = scale_cluster.Proc(cluster, "conductor", "c-adv", cluster._sections("c-adv", {
        "json_rpc": {"advertise_host": advertise}}))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(proc.dir / "state"))
    result = subprocess.run(
        [os.path.join(scale_cluster.BIN, "hwdrivers-conductor"), "--config-file",
         str(proc.config_path)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "[json_rpc] advertise_host = %r" % advertise in result.stderr
    assert not cluster.rows("SELECT hostname FROM conductors WHERE hostname = 'c-adv'")


def test_a_recorded_rpc_url_that_is_not_one_is_a_503(cluster):
    # As recorded before advertise_host was checked: every request for the
    # conductor's nodes was a 500 'Internal error' with a traceback in the log.
    _create(cluster, "badurl-0", conductor_group="gbad")
    with cluster.engine.begin() as conn:
        conn.execute(scale_cluster.sa.text(
            "INSERT INTO conductors (hostname, hardware_types, online, created_at, "
            "updated_at, conductor_group, rpc_url) VALUES ('cbad', :types, true, "
            "now() at time zone 'utc', now() at time zone 'utc', 'gbad', :url)"),
            {"types": json.dumps(["fake-hardware"]), "url": "http://[http://c4.example]:8089"})
    try:
        time.sleep(2 * cluster.timing["hash_ring_reset_interval"] + 0.5)
        status, body = cluster.apis[0].call("PUT", "/v1/nodes/badurl-0/states/power",
                                            {"target": "power on"})
        assert status == 503, body
        assert "advertise_host" in json.loads(body["error_message"])["faultstring"]
    finally:
        with cluster.engine.begin() as conn:
            conn.execute(scale_cluster.sa.text(
                "DELETE FROM conductors WHERE hostname = 'cbad'"))
