"""One SSH host, one controller key, however a node spells the host.

The key is the queue ``[command] max_concurrency`` (default 1) applies to:
one command at a time per host, because the host is what a flood hurts. A
profile's host was read as an address (IPv6 in canonical form, brackets
and blanks dropped), an inline node's was used as written, so ``[fd00::1]``,
``fd00::1`` and ``fd00:0::0001`` -- one hypervisor -- were three queues and
three commands ran on it at once.
"""

import getpass

import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.conf import command_profile
from hwdrivers.drivers.task import StandaloneTask

CONF = hw_conf.CONF


@pytest.fixture(autouse=True)
def command_config(config):
    config(enabled_hardware_types=["command"], enabled_power_interfaces=["command"],
           enabled_management_interfaces=["noop"], command__allow_node_templates=True)


def key(**driver_info):
    task = StandaloneTask.for_driver("command", dict(
        {"command_power_on": "true", "command_power_off": "true"}, **driver_info), name="n")
    return task.driver.power.controller_key(task)


@pytest.mark.parametrize("spelling", ["fd00::1", "[fd00::1]", "fd00:0::0001", " fd00::1 ",
                                      "FD00::1"])
def test_every_spelling_of_an_address_is_one_key(spelling):
    assert key(command_host=spelling, command_user="ops") == "ssh:ops@fd00::1:22"


def test_an_inline_node_and_a_profile_on_one_host_share_the_key():
    command_profile.register_profile(CONF, "hv", power_on="true", power_off="true",
                                     host="[fd00::1]")
    task = StandaloneTask.for_driver("command", {"command_profile": "hv"}, name="p")
    assert task.driver.power.controller_key(task) == key(command_host=" fd00:0:0::1")


def test_a_host_name_and_an_unusable_host_keep_their_keys():
    assert key(command_host="hv1.example.net") == "ssh:%s@hv1.example.net:22" % (
        getpass.getuser())
    assert key(command_host="not a host!") == "ssh:%s@not a host!:22" % getpass.getuser()
