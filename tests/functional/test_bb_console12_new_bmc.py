"""A console whose node moves to another BMC follows it, without waiting for a failure.

The operator corrects a node's ipmi_address/ipmi_port (it named the BMC of
another machine) or moves it to a replacement BMC while its console is on.
The session on the old BMC went on until it ended by itself: the console
kept showing, and taking keystrokes for, the old machine, and held the old
BMC's SOL session. Now the console manager's sync (every 30 s; called
directly here, with a real manager, relay, ipmitool and two ipmi_sims)
starts the session again on the BMC driver_info names: same port, the
connected client stays and is told why.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import console_manager
from hwdrivers.db import api as db_api
from tests.fixtures import ipmi_bmc
from tests.fixtures import ipmi_sim as sim_fixture
from tests.functional import console_env as env
from tests.waits import wait_for


@pytest.fixture
def sim2(tmp_path):
    sim_fixture.require_ipmi_sim()
    sim = sim_fixture.IPMISim(str(tmp_path / "sim2")).start()
    yield sim
    sim.stop()


def _state(manager, uuid):
    return manager.get_console(hw_context.get_admin_context(), uuid)


def test_console_follows_driver_info_to_another_bmc(sqlite_database, config, sim, sim2):
    ipmi_bmc.ipmitool_config(config, console__port_range=env.free_port_range(2))
    node = db_api.create_node({"driver": "ipmi", "name": "moved",
                               "driver_info": sim.driver_info()})
    uuid = node["uuid"]
    manager = console_manager.ConsoleManager(workers=object())
    manager.start()
    client = None
    try:
        manager.set_console_mode(hw_context.get_admin_context(), uuid, True)
        doc = wait_for(lambda: (lambda d: d if d["console_state"] in ("on", "failed")
                                else None)(_state(manager, uuid)), 30,
                       message="console on")
        assert doc["console_state"] == "on", doc
        port = env.address(doc)[1]
        wait_for(lambda: env.sol_processes(sim.port), 10, message="sol on BMC 1")
        client = env.Client(("127.0.0.1", port))
        sim.serial.write(b"old machine\r\n")
        client.read_until(b"old machine")

        manager.sync()  # nothing changed: the session goes on
        assert env.sol_processes(sim.port)

        db_api.update_node(node["id"], {"driver_info": sim2.driver_info()})
        manager.sync()
        client.read_until(b"driver_info changed")
        wait_for(lambda: env.sol_processes(sim2.port), 15, interval=0.1,
                 message="sol activate on the new BMC")
        wait_for(lambda: not env.sol_processes(sim.port), 15, interval=0.1,
                 message="no session left on the old BMC")
        doc = wait_for(lambda: (lambda d: d if d["console_state"] == "on" else None)(
            _state(manager, uuid)), 15, message="console on again")
        assert env.address(doc)[1] == port
        wait_for(lambda: sim2.serial.connected.is_set(), 10, message="BMC 2's serial")
        sim2.serial.write(b"new machine\r\n")
        client.read_until(b"new machine")
        assert sim_fixture.PASSWORD.encode() not in client.buffer
    finally:
        if client is not None:
            client.close()
        manager.stop()


def test_sync_rebuilds_no_command_of_an_unchanged_node(sqlite_database, config, sim,
                                                       monkeypatch):
    """The check costs nothing per console when nothing changed (no node lock each)."""
    ipmi_bmc.ipmitool_config(config, console__port_range=env.free_port_range(1))
    node = db_api.create_node({"driver": "ipmi", "name": "same",
                               "driver_info": sim.driver_info()})
    manager = console_manager.ConsoleManager(workers=object())
    manager.start()
    try:
        manager.set_console_mode(hw_context.get_admin_context(), node["uuid"], True)
        wait_for(lambda: _state(manager, node["uuid"])["console_state"] == "on", 30,
                 message="console on")
        rebuilt = []
        real = manager._current_command
        monkeypatch.setattr(manager, "_current_command",
                            lambda uuid: rebuilt.append(uuid) or real(uuid))
        manager.sync()
        db_api.update_node(node["id"], {"extra": {"note": "not the console's business"}})
        manager.sync()
        assert rebuilt == []
        db_api.update_node(node["id"], {"driver_info": sim.driver_info(
            deploy_kernel="http://images/k")})
        manager.sync()  # rebuilt once, the same session: not restarted
        manager.sync()
        assert rebuilt == [node["uuid"]]
        assert _state(manager, node["uuid"])["console_state"] == "on"
    finally:
        manager.stop()


def test_an_update_through_the_manager_is_followed_at_once(sqlite_database, config, sim,
                                                           sim2):
    """The update itself hands the change to the console this process serves
    (hwdrivers-server): no wait for the next sync, up to 30 s on the old BMC."""
    from hwdrivers.conductor import manager as manager_mod

    ipmi_bmc.ipmitool_config(config, console__port_range=env.free_port_range(2))
    node = db_api.create_node({"driver": "ipmi", "name": "moved2",
                               "driver_info": sim.driver_info()})
    uuid = node["uuid"]
    consoles = console_manager.ConsoleManager(workers=object())
    consoles.start()
    conductor = manager_mod.ConductorManager()
    conductor.consoles = consoles
    ctx = hw_context.get_admin_context()
    try:
        consoles.set_console_mode(ctx, uuid, True)
        doc = wait_for(lambda: (lambda d: d if d["console_state"] in ("on", "failed")
                                else None)(_state(consoles, uuid)), 30,
                       message="console on")
        assert doc["console_state"] == "on", doc
        wait_for(lambda: env.sol_processes(sim.port), 10, message="sol on BMC 1")
        db_api.update_node(node["id"], {"console_enabled": True})
        conductor.update_node(ctx, uuid, {"extra/k": "v"})  # not a console input
        assert env.sol_processes(sim.port) and not env.sol_processes(sim2.port)
        conductor.update_node(ctx, uuid, {
            "driver_info/ipmi_port": sim2.driver_info()["ipmi_port"]})
        pids = wait_for(lambda: env.sol_processes(sim2.port), 15, interval=0.1,
                        message="sol activate on the new BMC, with no sync")
        # A password rotated in driver_info before the BMC: the session stays up.
        conductor.update_node(ctx, uuid, {"driver_info/ipmi_password": "Rotated-pw-77"})
        consoles.sync()
        assert env.sol_processes(sim2.port) == pids
    finally:
        consoles.stop()
