"""A remote command that floods its output is stopped at the limit, and said so truly.

Over ssh only our ssh client is ours to kill: the error said "killed it and
everything it started", as for a local command, when what ends the remote
command is its closed channel. Real sshd; the remote command is ``yes``.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask


@pytest.fixture
def task(config, sshd):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__command_retry_timeout=0.0,
           command__command_timeout=15.0, command__allow_node_templates=True)
    yield StandaloneTask.for_driver("command", sshd.driver_info(
        command_power_on="true", command_power_off="true", command_power_status="yes"),
        name="flood")
    ssh.close_masters()


def test_a_remote_flood_stops_at_the_limit_naming_the_ssh_client(task, sshd):
    with pytest.raises(exception.DriverActionError) as caught:
        task.driver.power.get_power_state(task)
    text = str(caught.value)
    assert "command_power_status on %s@127.0.0.1:%d printed more than" % (
        sshd.user, sshd.port) in text, text
    assert "killed the ssh client" in text and "everything it started" not in text, text
