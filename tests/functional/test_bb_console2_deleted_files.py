"""A deleted node's console log and port file are removed, not kept forever.

Every node ever deleted left ``<uuid>.log`` (and its rotated ``.log.N``)
and ``<uuid>.port`` in ``<state_path>/console``: with node churn the
directory and the disk use grew without bound, for logs the API could no
longer show (the node is gone).
"""

import os

import pytest
from oslo_config import cfg

from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_manager
from hwdrivers.db import api as db_api
from tests.functional import console_env as env
from tests.functional import server_proc
from tests.waits import wait_for


@pytest.fixture
def serial():
    line = env.serial_line()
    yield next(line)
    next(line, None)


def test_deleting_a_node_removes_its_console_files(tmp_path, serial):
    options = dict(env.SOCAT_PROFILES, console={"port_range": env.free_port_range(2),
                                                "log_max_bytes": "4096"})
    server = server_proc.ServerProcess(tmp_path, options=options).start()
    console_dir = tmp_path / "state" / "console"
    try:
        status, body = server.call("POST", "/v1/nodes", {
            "name": "churn", "driver": "command", "console_interface": "command",
            "driver_info": {"command_profile": "vmcon",
                            "serial_port": str(serial.port)}})
        assert status == 201, body
        node = body["uuid"]
        status, body = server.call("POST", "/v1/nodes", {
            "name": "stays", "driver": "command", "console_interface": "command",
            "driver_info": {"command_profile": "vmcon",
                            "serial_port": str(serial.port)}})
        assert status == 201, body
        kept = body["uuid"]
        env.enable(server, node)
        assert env.wait_state(server, node, ("on", "failed"))["console_state"] == "on"
        serial.write(b"x" * 6000 + b"\r\n")  # past log_max_bytes: a rotated file too
        wait_for(lambda: os.path.exists(console_dir / (node + ".log.1")), 30,
                     interval=0.1, message="the log rotated")
        # The other node's files (say, from an earlier console) are not touched.
        console_log.write_port(console_log.port_path(str(tmp_path / "state"), kept), 1)
        assert {node + ".log", node + ".log.1", node + ".port"} <= set(
            os.listdir(console_dir))
        status, body = server.call("DELETE", "/v1/nodes/%s" % node)
        assert status == 204, body
        assert sorted(os.listdir(console_dir)) == [kept + ".port"]
    finally:
        server.stop()


def test_sync_sweeps_files_of_nodes_deleted_elsewhere(sqlite_database, tmp_path):
    """Deleted through another process (hwdrivers-api, another conductor)."""
    state = str(tmp_path / "swept")
    gone = db_api.create_node({"driver": "fake-hardware"})
    kept = db_api.create_node({"driver": "fake-hardware"})
    for node in (gone, kept):
        log = console_log.ConsoleLog(console_log.log_path(state, node["uuid"]), 10, 2)
        log.write(b"a" * 25)
        log.close()
        console_log.write_port(console_log.port_path(state, node["uuid"]), 10001)
    db_api.destroy_node(gone["id"])
    cfg.CONF.set_override("state_path", state)
    try:
        manager = console_manager.ConsoleManager()
        manager.sync()
    finally:
        cfg.CONF.clear_override("state_path")
    left = sorted(os.listdir(console_log.log_dir(state)))
    assert left == sorted(kept["uuid"] + s for s in (".log", ".log.1", ".log.2", ".port"))
