"""An expected driver failure is one log line naming node, controller and reason.

A wrong BMC password or an unreachable BMC is the hardware's answer, not a
bug in hwdrivers: the operation records it in ``last_error`` and logs one
WARNING/ERROR line, with no traceback (the traceback stays at DEBUG). A real
bug still logs its traceback at ERROR. The failures come from real peers:
pyghmi fake BMCs refusing a wrong password, and a redfish address nobody
listens on.
"""

import logging

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import workers as workers_mod
from hwdrivers.db import api as db_api
from tests.waits import wait_for

CTX = hw_context.get_admin_context()


@pytest.fixture
def manager(sqlite_database, config):
    config(ipmi__command_retry_timeout=2.0, redfish__command_retry_timeout=1.0)
    mgr = manager_mod.ConductorManager(workers=workers_mod.WorkerPool(2))
    yield mgr
    mgr.workers.shutdown(wait=True, timeout=30)


def _settled(name):
    return lambda: (db_api.get_node(name)["reservation"] is None
                    and db_api.get_node(name)["target_power_state"] is None
                    and db_api.get_node(name)["target_provision_state"] is None)


def _loud(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def _check_one_line(caplog, node, controller, reason):
    loud = _loud(caplog)
    assert len(loud) == 1, [r.getMessage() for r in loud]
    (record,) = loud
    line = record.getMessage()
    assert node in line and controller in line and reason in line, line
    assert "\n" not in line
    assert record.exc_info is None and not record.exc_text
    # The traceback is still there for whoever turns DEBUG on.
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.DEBUG)


def test_wrong_bmc_password_in_a_worker_is_one_line(manager, fake_bmcs, caplog):
    info = fake_bmcs.driver_info(0, ipmi_password="not-the-password")
    manager.create_node(CTX, {"driver": "ipmi", "name": "wrongpw", "driver_info": info})
    caplog.set_level(logging.DEBUG)
    caplog.clear()  # from here on: the operation only
    manager.change_power_state(CTX, "wrongpw", "power on", wait=False)
    wait_for(_settled("wrongpw"), timeout=60)
    last_error = db_api.get_node("wrongpw")["last_error"]
    assert last_error
    controller = "%s:%d" % (fake_bmcs.address, fake_bmcs.ports[0])
    _check_one_line(caplog, "wrongpw", controller, last_error.rsplit(": ", 1)[-1])
    assert "not-the-password" not in caplog.text


def test_unreachable_bmc_in_manage_is_one_line(manager, closed_tcp_port, caplog):
    port = closed_tcp_port.port
    address = "http://127.0.0.1:%d" % port
    manager.create_node(CTX, {"driver": "redfish", "name": "gone", "driver_info": {
        "redfish_address": address, "redfish_system_id": "/redfish/v1/Systems/1"}})
    caplog.set_level(logging.DEBUG)
    caplog.clear()  # from here on: the operation only
    manager.do_provisioning_action(CTX, "gone", "manage")
    wait_for(_settled("gone"), timeout=60)
    node = db_api.get_node("gone")
    assert node["provision_state"] == "enroll" and node["power_state"] is None
    assert "127.0.0.1:%d" % port in node["last_error"]
    loud = [r for r in _loud(caplog) if "retrying" not in r.getMessage()]
    assert len(loud) == 1, [r.getMessage() for r in loud]
    line = loud[0].getMessage()
    assert "gone" in line and "127.0.0.1:%d" % port in line
    assert loud[0].exc_info is None and not loud[0].exc_text


def test_a_bug_in_a_worker_keeps_its_traceback(manager, caplog):
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "bug"})
    caplog.set_level(logging.DEBUG)
    caplog.clear()  # from here on: the operation only
    from hwdrivers.conductor import task_manager

    def broken(task):
        raise ZeroDivisionError("a bug")

    with task_manager.acquire(CTX, "bug", purpose="test") as task:
        task.spawn_after(manager.workers.submit, broken, task)
    wait_for(_settled("bug"), timeout=60)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
