"""A BMC that answers late, behind a UDP relay delaying every packet, with the real ipmitool.

ipmitool waits [ipmi] timeout (1 s) for an answer and then sends the
message again; an answer to the first RAKP 1 arriving after that fails
its check ("RAKP 2 HMAC is invalid"), which was reported as a wrong
password and never retried, though the password was right.
"""

import socket
import threading
import time

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures import ipmi_bmc as ipmi_bmc_fixtures
from tests.fixtures.ipmi_bmc import start_fake_bmcs

IPMITOOL = ipmi_bmc_fixtures.IPMITOOL

pytestmark = ipmi_bmc_fixtures.needs_ipmitool


@pytest.fixture(autouse=True)
def ipmi_config(config):
    ipmi_bmc_fixtures.ipmitool_config(config, ipmi__ipmitool_path=IPMITOOL)


class DelayRelay:
    """UDP relay on 127.0.0.1 passing every packet both ways ``delay`` seconds late."""

    def __init__(self, target_port, delay):
        self.delay = delay
        self.target = ("127.0.0.1", target_port)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.client = None
        self.stopped = False
        for source, forward in ((self.front, self._up), (self.back, self._down)):
            threading.Thread(target=self._pump, args=(source, forward), daemon=True).start()

    def _pump(self, source, forward):
        source.settimeout(0.2)
        while not self.stopped:
            try:
                data, addr = source.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            threading.Timer(self.delay, forward, args=(data, addr)).start()

    def _up(self, data, addr):
        self.client = addr
        self._send(self.back, data, self.target)

    def _down(self, data, addr):
        if self.client:
            self._send(self.front, data, self.client)

    def _send(self, sock, data, addr):
        if self.stopped:
            return
        try:
            sock.sendto(data, addr)
        except OSError:  # closed by close() while this packet waited
            pass

    def close(self):
        self.stopped = True
        time.sleep(self.delay + 0.3)  # timers still holding packets find it stopped
        self.front.close()
        self.back.close()


def test_late_login_answers_are_not_a_wrong_password():
    with start_fake_bmcs(1) as bmcs:
        relay = DelayRelay(bmcs.ports[0], 0.6)
        try:
            task = StandaloneTask.for_driver(
                "ipmi", driver_info=bmcs.driver_info(0, ipmi_port=relay.port), name="slow")
            with pytest.raises(exception.DriverError) as info:
                actions.get_power_state(task)
        finally:
            relay.close()
    assert not isinstance(info.value, exception.DriverAuthError), info.value
    assert isinstance(info.value, exception.DriverConnectionError), info.value
    assert "lost or answered late" in str(info.value)
