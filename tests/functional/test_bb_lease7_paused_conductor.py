"""A conductor paused past its lease sends nothing more to the BMC when it wakes.

A real process holds a node's lease (``[conductor] lease_duration`` = 1 s)
and drives a pyghmi fake BMC through ipmitool: it powers the machine off,
then waits for the test's word to set the boot device and power it on (a
deploy's boot sequence). The test stops it (SIGSTOP, as a frozen VM or a
long stall) until its lease has expired, lets another conductor take the
node, and wakes it (SIGCONT). Before the fix it went on and sent the boot
device and the power on to a machine another conductor drove; only its
last database write was refused. Now it confirms its lease before its next
command, finds it taken and stops, and the BMC receives nothing more.
"""

import datetime
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from tests.fixtures.ipmi_bmc import needs_ipmitool, start_fake_bmcs
from tests.waits import wait_for

pytestmark = needs_ipmitool

THIEF = "other-conductor:1"

#: The paused conductor's task: power off, READY, wait, boot device + power on.
CHILD = textwrap.dedent("""
    import sys
    from hwdrivers import conf as hw_conf
    hw_conf.CONF(["--config-file", sys.argv[1]], project="hwdrivers",
                 default_config_files=[])
    from hwdrivers.common import context
    from hwdrivers.common.states import PowerState
    from hwdrivers.conductor import task_manager
    from hwdrivers.drivers import actions

    ctx = context.get_admin_context()
    with task_manager.acquire(ctx, sys.argv[2], purpose="deploy boot") as task:
        actions.set_power_state(task, PowerState.OFF)
        print("READY", flush=True)
        sys.stdin.readline()  # stopped here, then woken
        try:
            actions.set_boot_device(task, "pxe")
            actions.set_power_state(task, PowerState.ON)
            print("SENT", flush=True)
        except Exception as exc:
            print("STOPPED %s: %s" % (type(exc).__name__, exc), flush=True)
""")


def write_config(tmp_path):
    path = tmp_path / "paused.conf"
    path.write_text(textwrap.dedent("""
        [DEFAULT]
        host = lease7-paused
        state_path = %s
        enabled_hardware_types = ipmi
        enabled_power_interfaces = ipmitool
        enabled_management_interfaces = ipmitool
        [database]
        connection = %s
        [conductor]
        lease_duration = 1
        [ipmi]
        command_retry_timeout = 0
    """ % (task_manager.CONF.state_path,
           db_engine.get_engine().url.render_as_string(hide_password=False))))
    return path


class Child:
    """The child's stdout, line by line, without blocking the test forever."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def line(self, timeout=60):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            self.proc.kill()
            pytest.fail("the child said nothing: %s" % self.proc.stderr.read())
        return line


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@pytest.mark.parametrize("taker", ["holds", "let go"])
def test_a_paused_conductor_sends_nothing_once_its_lease_was_taken(
        database, config, tmp_path, taker):
    with start_fake_bmcs(1) as bmcs:
        node = db_api.create_node({"driver": "ipmi", "name": "paused-node",
                                   "driver_info": bmcs.driver_info(0)})
        child = Child([sys.executable, "-c", CHILD, str(write_config(tmp_path)),
                       node["uuid"]])
        try:
            assert child.line() == "READY"
            owner = db_api.get_reservation(node["id"])[0]
            assert owner.startswith("lease7-paused:")
            sent = bmcs.events()
            assert "power_off" in sent
            os.kill(child.proc.pid, signal.SIGSTOP)
            # Its keeper stopped renewing: the lease runs out, another takes it.
            wait_for(lambda: db_api.get_reservation(node["id"])[1]
                     < task_manager.utcnow(), timeout=30,
                     message="the paused conductor's lease to expire")
            now = task_manager.utcnow()
            assert db_api.reserve_node(node["id"], THIEF,
                                       now + datetime.timedelta(60), now)
            if taker == "let go":
                assert db_api.release_node(node["id"], THIEF)
            child.proc.stdin.write("go\n")
            child.proc.stdin.flush()
        finally:
            os.kill(child.proc.pid, signal.SIGCONT)
        result = child.line()
        assert child.proc.wait(60) == 0, child.proc.stderr.read()
        assert result.startswith("STOPPED LeaseLost: Node paused-node: deploy boot was "
                                 "stopped before its next command"), result
        assert "expired and was taken over" in result
        assert bmcs.events() == sent  # not one command more reached the BMC
        row = db_api.get_node(node["id"])
        if taker == "holds":
            assert row["reservation"] == THIEF and row["last_error"] is None
        else:
            assert row["reservation"] is None
            assert row["last_error"] == result[len("STOPPED LeaseLost: "):]
