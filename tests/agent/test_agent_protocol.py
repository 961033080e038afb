"""hwdrivers-agent's wire protocol, as a real process against a fake conductor.

Lookup and heartbeat as ironic-python-agent sends them; the command API's
token check (a wrong or missing token is 401 and runs nothing), request
validation (400, 404, 409), the power commands' hooks, log collection, and
the secret (the agent token) kept out of logs, argv and answers.
"""

import base64
import io
import os
import subprocess
import sys
import tarfile

from tests.agent import conftest
from tests.agent.helpers import MiB, image_info, mark_bootable, read, sha
from tests.waits import wait_for


def test_lookup_and_heartbeat_fields(start_agent, conductor):
    agent = start_agent()
    lookup = conductor.lookups[-1]
    assert lookup["addresses"] == [conftest.MAC]  # from BOOTIF on the kernel command line
    assert lookup["node_uuid"] == agent.node  # from ipa-node-uuid, as IPA sends it
    assert lookup["headers"]["x-openstack-ironic-api-version"] == "1.62"
    beat = conductor.heartbeats_of(agent.node)[0]
    assert beat["headers"]["x-openstack-ironic-api-version"] == "1.68"
    body = beat["body"]
    assert set(body) == {"callback_url", "agent_token", "agent_version"}  # no agent_verify_ca
    assert body["agent_token"] == agent.token
    assert body["callback_url"].startswith("http://127.0.0.1:")
    status, doc = agent.request("GET", "/v1/status", token=None)  # open, as in IPA
    assert status == 200 and doc["version"] == body["agent_version"]
    assert doc["started_at"] > 0
    status, root = agent.request("GET", "/", token=None)
    assert status == 200 and root["default_version"]["id"] == "v1"


def test_old_api_gets_old_heartbeat(tmp_path, image_server):
    """An API at 1.31 gets neither agent_token nor agent_version in the heartbeat."""
    from tests.agent import servers
    with servers.FakeConductor(api_version="1.31") as old:
        agent = conftest.AgentProcess(tmp_path, old, extra=["--api-url", old.url])
        try:
            agent.wait_ready()
            beat = old.heartbeats_of(agent.node)[0]
            assert set(beat["body"]) == {"callback_url"}
            assert beat["headers"]["x-openstack-ironic-api-version"] == "1.31"
        finally:
            agent.stop()


def test_heartbeats_repeat_at_the_lookup_interval(tmp_path):
    from tests.agent import servers
    with servers.FakeConductor(heartbeat_timeout=1) as fast:
        agent = conftest.AgentProcess(tmp_path, fast)
        try:
            agent.wait_ready()
            wait_for(lambda: len(fast.heartbeats_of(agent.node)) >= 3, timeout=20,
                     message="three heartbeats (every 0.3-0.6 s)")
        finally:
            agent.stop()


def test_lookup_retries_until_the_node_is_known(start_agent, conductor):
    agent = start_agent(ready=False, register=False)
    wait_for(lambda: len(conductor.lookups) >= 2, timeout=20, message="lookup retries")
    assert agent.proc.poll() is None
    conductor.add_node(agent.mac, agent.node, agent.token)
    agent.wait_ready()


def test_lookup_gives_up_after_the_timeout(start_agent, conductor):
    agent = start_agent(ready=False, register=False, extra=["--lookup-timeout", "1"])
    assert agent.proc.wait(timeout=30) == 1
    assert "no node found for addresses %s" % conftest.MAC in agent.log()
    assert len(conductor.lookups) >= 2


def test_second_lookup_gets_no_token(start_agent, conductor, tmp_path):
    first = start_agent()
    # a second agent claiming the same MAC: the conductor answers "******"
    (tmp_path / "second").mkdir()
    second = conftest.AgentProcess(tmp_path / "second", conductor, register=False)
    try:
        assert second.proc.wait(timeout=30) == 1
        assert "already handed out" in second.log()
        assert "cannot accept commands" in second.log()
    finally:
        second.stop()
    assert first.proc.poll() is None


def test_wrong_or_missing_token_is_401_and_runs_nothing(start_agent, image_server, raw_image):
    path, data = raw_image
    url = image_server.add("image.raw", path=str(path))
    agent = start_agent()
    mark_bootable(agent.disk)
    before = read(agent.disk, 0, MiB)
    params = {"image_info": image_info(url, data)}
    for token in ("x" * 43, "", None):
        status, doc = agent.command("standby.prepare_image", params, token=token)
        assert status == 401, doc
        assert doc == {"faultcode": "Client", "faultstring": "401 Unauthorized: Token invalid."}
        status, doc = agent.request("GET", "/v1/commands/", token=token)
        assert status == 401
    status, doc = agent.request("GET", "/v1/commands/")
    assert status == 200 and doc == {"commands": []}
    assert image_server.count("image.raw") == 0
    assert read(agent.disk, 0, MiB) == before


def test_md5_refused_unless_allowed(start_agent, image_server, raw_image, tmp_path):
    path, data = raw_image
    url = image_server.add("image.raw", path=str(path))
    md5 = {"image_info": {"id": "img-1", "urls": [url], "checksum": sha(data, "md5")}}
    agent = start_agent()
    mark_bootable(agent.disk)
    status, doc = agent.command("standby.prepare_image", md5)
    assert status == 400
    assert "MD5 is refused" in doc["faultstring"] and "--allow-md5" in doc["faultstring"]
    assert agent.request("GET", "/v1/commands/")[1] == {"commands": []}
    assert image_server.count("image.raw") == 0
    agent.stop()
    os.unlink(agent.disk)
    allowed = start_agent(extra=["--allow-md5"])
    doc = allowed.run("standby.prepare_image", md5)
    assert doc["command_status"] == "SUCCEEDED", doc
    assert doc["command_result"]["image"]["md5"] == sha(data, "md5")
    assert sha(read(allowed.disk, 0, len(data))) == sha(data)


def test_bad_requests(start_agent, image_server, tmp_path):
    agent = start_agent()
    cases = [
        ({"name": "standby.nope", "params": {}}, 400, "Unknown command: standby.nope"),
        ({"name": "flow.run", "params": {}}, 404, "Extension with id flow not found"),
        ({"name": "standby", "params": {}}, 400, "<extension>.<name>"),
        ({"name": "standby.sync"}, 400, "Missing or invalid name or params"),
        ({"name": "standby.sync", "params": {"force": True}}, 400, "force"),
        ({"name": "standby.prepare_image", "params": {"image_info": {"id": "x"}}}, 400,
         "image_info is missing 'urls'"),
        ({"name": "standby.prepare_image", "params": {"image_info": {
            "id": "x", "urls": ["http://h/i"]}}}, 400, "has no checksum"),
        ({"name": "standby.prepare_image", "params": {"image_info": {
            "id": "x", "urls": ["http://h/i"], "os_hash_algo": "crc32",
            "os_hash_value": "00"}}}, 400, "'os_hash_algo' 'crc32' is not supported"),
    ]
    for body, code, text in cases:
        status, doc = agent.request("POST", "/v1/commands/", body)
        assert status == code, (body, doc)
        assert text in doc["faultstring"], (body, doc)
    status, doc = agent.request("GET", "/v1/commands/no-such-id")
    assert status == 404 and "no-such-id" in doc["faultstring"]
    assert agent.request("GET", "/v1/commands/")[1] == {"commands": []}


def test_busy_agent_refuses_a_second_command(start_agent, image_server, tmp_path):
    data = os.urandom(2 * MiB)
    url = image_server.add("slow.raw", data=data, delay=0.05)  # about 1.6 s
    agent = start_agent()
    status, first = agent.command("standby.prepare_image",
                                  {"image_info": image_info(url, data)}, wait=False)
    assert status == 200 and first["command_status"] == "RUNNING"
    status, doc = agent.command("standby.sync", {})
    assert status == 409 and "prepare_image" in doc["faultstring"]
    status, done = agent.request("GET", "/v1/commands/%s" % first["id"], wait=True)
    assert done["command_status"] == "SUCCEEDED", done
    assert agent.command("standby.sync", {})[0] == 200


def test_forced_heartbeat_after_a_command(start_agent, conductor, image_server, raw_image):
    path, data = raw_image
    agent = start_agent()  # heartbeat_timeout 30: the next regular one is 9-18 s away
    beats = len(conductor.heartbeats_of(agent.node))
    doc = agent.run("standby.prepare_image", {"image_info": image_info(
        image_server.add("image.raw", path=str(path)), data)})
    assert doc["command_status"] == "SUCCEEDED"
    wait_for(lambda: len(conductor.heartbeats_of(agent.node)) > beats, timeout=8,
             message="a heartbeat soon after the command finished")


def test_power_off_exit_ends_the_process(start_agent):
    agent = start_agent(extra=["--power-off-command", "exit"])
    status, doc = agent.command("standby.power_off", {}, wait=True)
    assert status == 200 and doc["command_status"] == "SUCCEEDED", doc
    assert agent.proc.wait(timeout=20) == 0


def test_run_image_runs_the_reboot_command(start_agent, tmp_path):
    marker = tmp_path / "rebooted"
    agent = start_agent(extra=["--reboot-command", "touch %s" % marker])
    status, doc = agent.command("standby.run_image", {}, wait=True)
    assert doc["command_status"] == "SUCCEEDED", doc
    assert marker.exists()


def test_failing_power_command_is_reported(start_agent):
    agent = start_agent(extra=["--power-off-command", "sh -c 'echo no power >&2; exit 3'"])
    status, doc = agent.command("standby.power_off", {}, wait=True)
    assert doc["command_status"] == "FAILED"
    assert doc["command_error"]["type"] == "SystemRebootError"
    assert "exit code 3" in doc["command_error"]["details"]
    assert "no power" in doc["command_error"]["details"]


def test_collect_system_logs_returns_the_agent_log(start_agent):
    agent = start_agent()
    status, doc = agent.command("log.collect_system_logs", {})
    assert doc["command_status"] == "SUCCEEDED"
    archive = base64.b64decode(doc["command_result"]["system_logs"])
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        text = tar.extractfile("agent.log").read().decode()
    assert "lookup succeeded: node %s" % agent.node in text
    assert agent.token not in text


def test_token_never_in_log_or_argv(start_agent, image_server, raw_image):
    path, data = raw_image
    agent = start_agent()
    agent.run("standby.prepare_image", {"image_info": image_info(
        image_server.add("image.raw", path=str(path)), data)})
    agent.request("GET", "/v1/commands/", token="wrong-token")
    with open("/proc/%d/cmdline" % agent.proc.pid, "rb") as cmdline:
        assert agent.token.encode() not in cmdline.read()
    assert agent.token not in agent.log()


def test_token_on_kernel_cmdline_string_is_refused(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hwdrivers.agent.cmd", "--kernel-cmdline",
         "ipa-api-url=http://127.0.0.1:1 ipa-agent-token=secretsecretsecret BOOTIF=01-52-54-"
         "00-aa-bb-01"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "ipa-agent-token must not be passed in --kernel-cmdline" in proc.stderr
    assert "secretsecretsecret" not in proc.stderr


def test_sigterm_while_looking_up_exits_0(start_agent, conductor):
    agent = start_agent(ready=False, register=False)
    wait_for(lambda: conductor.lookups, timeout=20, message="a first lookup")
    agent.proc.terminate()
    assert agent.proc.wait(timeout=20) == 0
    assert "no node found" not in agent.log()
