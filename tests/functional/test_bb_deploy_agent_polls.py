"""The conductor's polls of a busy agent, through a network that loses one of them.

A TCP relay sits between the conductor and the agent (the agent advertises
the relay's port as its callback URL) and resets the connection of chosen
``GET /v1/commands/<id>`` requests: a lost status poll, as a flaky
provisioning network or an agent too busy to answer in time produces.
"""

import socket
import threading

import pytest

from hwdrivers.testing import simulator
from tests.functional import deploy_env
from tests.functional import server_proc

pytestmark = pytest.mark.slow


class StatusPollDropper:
    """Relays 127.0.0.1:<port> to the agent; resets the first ``drops`` status polls."""

    def __init__(self, target_port: int, drops: int) -> None:
        self.target_port = target_port
        self.drops = drops
        self.dropped = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        with client:
            head = client.recv(65536)
            if head.startswith(b"GET /v1/commands/") and self.dropped < self.drops:
                self.dropped += 1
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                return
            with socket.create_connection(("127.0.0.1", self.target_port)) as agent:
                agent.sendall(head)
                back = threading.Thread(target=self._pipe, args=(agent, client), daemon=True)
                back.start()
                self._pipe(client, agent)
                back.join(30)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def env(tmp_path):
    with deploy_env.running(tmp_path) as environment:
        yield environment


def test_one_lost_status_poll_does_not_fail_the_deploy(env):
    # Before: the first poll that got no answer failed the deploy and powered
    # the machine off in the middle of its image ("the agent did not answer
    # the status of command prepare_image").
    agent_port = server_proc.free_tcp_port()
    relay = StatusPollDropper(agent_port, drops=1)
    try:
        url, digest, _ = env.add_image("poll.img", size=8 * deploy_env.MiB)
        machine, _ = env.add_machine(
            "poll1", agent_args=["--listen-port", str(agent_port),
                                 "--advertise-port", str(relay.port)],
            instance_info={"image_source": url, "image_os_hash_algo": "sha256",
                           "image_os_hash_value": digest})
        env.make_available("poll1")
        env.deploy("poll1")
        node = env.wait_state("poll1", "active", timeout=90)
        assert relay.dropped == 1
        assert node["last_error"] is None
        assert simulator.inspect_disk(machine.disk) == "poll.img"
        assert "reading the status of the agent's prepare_image failed (1 of 3" in \
            env.server.log()
    finally:
        relay.close()
