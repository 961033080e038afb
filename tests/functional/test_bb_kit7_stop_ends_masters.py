"""A stopping conductor ends the command driver's SSH control masters.

A master outlived the conductor by ``[command] ssh_control_persist``
seconds, holding a connection and a login session on every hypervisor it
had talked to; the next life's first commands could reuse it, opened with
the old configuration's options. Real conductor, real sshd, real ssh.
"""

import os

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import service as service_mod
from hwdrivers.conf import CONF
from hwdrivers.conf import command_profile
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import ssh

CTX = hw_context.get_admin_context()


@pytest.fixture
def service(database, config, sshd, tmp_path):
    state = tmp_path / "vm.state"
    state.write_text("off\n")
    config(host="kit7", enabled_hardware_types=["command"],
           enabled_power_interfaces=["command"], enabled_management_interfaces=["noop"],
           command__command_retry_timeout=0.0, command__ssh_connect_timeout=5,
           command__ssh_control_persist=600,
           conductor__sync_power_state_interval=0)
    command_profile.register_profile(
        CONF, "kit7", power_on="echo on > {state}", power_off="echo off > {state}",
        power_status="cat {state}", **sshd.profile_options())
    db_api.create_node({"driver": "command", "name": "vm-kit7",
                        "driver_info": {"command_profile": "kit7", "state": str(state)}})
    svc = service_mod.ConductorService()
    svc.start()
    yield svc
    svc.stop(timeout=5)
    ssh.close_masters()


def _masters():
    directory = ssh._control_dir_path()
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def test_stop_ends_the_masters_its_commands_opened(service):
    service.manager.change_power_state(CTX, "vm-kit7", "power on")
    assert db_api.get_node("vm-kit7")["power_state"] == "power on"
    assert _masters(), "the power action went through a control master"
    assert service.stop(timeout=5) is True
    assert _masters() == []  # the master exited and removed its socket


def test_a_conductor_that_ran_no_ssh_command_creates_nothing(database, config):
    config(host="kit7-idle", conductor__sync_power_state_interval=0)
    svc = service_mod.ConductorService()
    svc.start()
    assert svc.stop(timeout=5) is True
    assert not os.path.exists(ssh._control_dir_path())
