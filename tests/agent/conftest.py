"""Fixtures for hwdrivers-agent tests: peers on 127.0.0.1 and the agent as a real process."""

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from tests.agent import servers
from tests.agent.helpers import MiB
from tests.fixtures import processes
from tests.waits import wait_for

MAC = "52:54:00:aa:bb:01"


class AgentProcess:
    """``hwdrivers-agent`` started against a FakeConductor, with a disk image file."""

    def __init__(self, tmp_path, conductor, disk_size=64 * 1024 * 1024, extra=(), env=None,
                 mac=MAC, register=True, properties=None):
        self.tmp_path = tmp_path
        self.conductor = conductor
        self.node = str(uuid.uuid4())
        self.token = secrets.token_urlsafe(32)
        self.mac = mac
        self.disk = str(tmp_path / "disk.img")
        if not os.path.exists(self.disk):
            with open(self.disk, "wb") as handle:
                handle.truncate(disk_size)
        if register:
            conductor.add_node(mac, self.node, self.token, properties)
        cmdline = tmp_path / "cmdline"
        cmdline.write_text("console=ttyS0 ipa-api-url=%s BOOTIF=01-%s ipa-node-uuid=%s nofb\n"
                           % (conductor.url, mac.replace(":", "-"), self.node))
        self.log_path = tmp_path / "agent.log"
        self._log = open(self.log_path, "w")
        self.argv = [sys.executable, "-m", "hwdrivers.agent.cmd",
                     "--kernel-cmdline-file", str(cmdline),
                     "--listen-host", "127.0.0.1", "--listen-port", "0",
                     "--advertise-host", "127.0.0.1", "--root-device", self.disk,
                     "--lookup-interval", "0.1", "--min-heartbeat-interval", "0.5",
                     "--download-retries", "2", "--download-retry-interval", "0.1",
                     "--download-timeout", "10", "--tmp-dir", str(tmp_path), *extra]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=env)
        self.url = None

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def wait_ready(self, timeout=30):
        """Wait for the first heartbeat; remember its callback_url."""
        def beat():
            if self.proc.poll() is not None:
                raise AssertionError("agent exited %s:\n%s" % (self.proc.returncode,
                                                              self.log()))
            found = self.conductor.heartbeats_of(self.node)
            return found[0] if found else None
        first = wait_for(beat, timeout=timeout, message="the agent's first heartbeat")
        self.url = first["body"]["callback_url"]
        return self

    def request(self, method, path, body=None, token="default", wait=False):
        """(status, parsed JSON) of a call to the agent's API."""
        token = self.token if token == "default" else token
        query = []
        if wait:
            query.append("wait=true")
        if token is not None:
            query.append("agent_token=%s" % token)
        url = self.url + path + ("?" + "&".join(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def command(self, name, params, wait=True, **kwargs):
        return self.request("POST", "/v1/commands/", {"name": name, "params": params},
                            wait=wait, **kwargs)

    def run(self, name, params, timeout=60):
        """Run a command to completion; returns its final result document."""
        status, result = self.command(name, params, wait=False)
        assert status == 200, result
        def done():
            code, doc = self.request("GET", "/v1/commands/%s" % result["id"])
            assert code == 200, doc
            return doc if doc["command_status"] != "RUNNING" else None
        return wait_for(done, timeout=timeout, interval=0.05,
                        message="command %s to finish" % name)

    def stop(self):
        processes.stop_group(self.proc)
        self._log.close()


@pytest.fixture
def conductor():
    with servers.FakeConductor(heartbeat_timeout=30) as fake:
        yield fake


@pytest.fixture
def image_server():
    with servers.ImageServer() as server:
        yield server


@pytest.fixture
def start_agent(tmp_path, conductor):
    started = []

    def start(ready=True, **kwargs):
        agent = AgentProcess(tmp_path, conductor, **kwargs)
        started.append(agent)
        return agent.wait_ready() if ready else agent

    yield start
    for agent in started:
        agent.stop()


@pytest.fixture
def raw_image(tmp_path):
    data = os.urandom(3 * MiB + 12345)  # not a multiple of the chunk size
    path = tmp_path / "image.raw"
    path.write_bytes(data)
    return path, data
