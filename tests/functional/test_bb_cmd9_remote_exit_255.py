"""A jump host's own ssh failing is the command's failure, not our connection's.

ssh exits 255 on its own failures, and so does an ``ssh`` the remote
command runs (a jump host's ``ssh bmc power on``), whose messages came out
on our ssh's stderr: "Host key verification failed." from the jump host's
ssh to the BMC told the operator to add *the jump host's* key to
command_known_hosts, and "Permission denied" that *our* key was refused,
neither of which was wrong. Our ssh now writes its own messages apart
(``-E``), so only they decide. Real sshd, real nested ssh.
"""

import os

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import ssh
from hwdrivers.drivers.task import StandaloneTask


@pytest.fixture
def node(config, sshd):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__command_retry_timeout=0.0,
           command__command_timeout=15.0, command__allow_node_templates=True)

    def task(power_on, **info):
        return StandaloneTask.for_driver("command", sshd.driver_info(
            command_power_on=power_on, command_power_off="true", **info), name="vm1")
    yield task
    ssh.close_masters()


def nested_ssh(sshd, *options):
    """An ssh the jump host runs to a 'BMC' (the same sshd) that fails with 255."""
    return ("ssh -o BatchMode=yes -o ConnectTimeout=5 -o UserKnownHostsFile=/dev/null "
            "-o GlobalKnownHostsFile=/dev/null %s -p %d 127.0.0.1 true"
            % (" ".join(options), sshd.port))


@pytest.mark.parametrize("options, said", [
    (("-o StrictHostKeyChecking=yes",), "Host key verification failed"),
    (("-o StrictHostKeyChecking=no", "-o IdentitiesOnly=yes", "-i /dev/null",
      "-l nobody"), "Permission denied"),
])
def test_a_remote_command_failing_with_its_own_ssh_is_an_action_error(
        node, sshd, options, said):
    task = node(nested_ssh(sshd, *options))
    with pytest.raises(exception.DriverError) as caught:
        task.driver.power.set_power_state(task, "power on")
    text = str(caught.value)
    assert type(caught.value) is exception.DriverActionError, text
    assert "command_power_on on %s@127.0.0.1:%d exited 255" % (sshd.user, sshd.port) in text
    assert said in text, text


def test_our_own_ssh_failures_are_still_named(node, sshd, tmp_path):
    other = tmp_path / "known_hosts"
    other.write_text("")
    task = node("true", command_known_hosts=str(other))
    with pytest.raises(exception.DriverSettingsError, match="command_known_hosts"):
        task.driver.power.set_power_state(task, "power on")
    task = node("true", command_user="nobody")
    with pytest.raises(exception.DriverAuthError, match="nobody@127.0.0.1.*refused"):
        task.driver.power.set_power_state(task, "power on")
    task = node("true", command_port=1)
    with pytest.raises(exception.DriverConnectionError, match="Connection refused"):
        task.driver.power.set_power_state(task, "power on")


def test_the_log_of_ssh_is_not_left_behind(node):
    task = node("echo to stderr >&2; exit 4")
    with pytest.raises(exception.DriverActionError, match="exited 4: to stderr"):
        task.driver.power.set_power_state(task, "power on")
    left = [n for n in os.listdir(ssh.control_dir()) if n.startswith("log-")]
    assert left == []
