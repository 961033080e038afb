"""A reboot sending several commands confirms the lease between them.

The ipmitool reboot's fallback (off, wait until off, on), its soft reboot
(ACPI off, wait, on) and a PDU outlet's reboot (off, delay, on) are one
driver call, so :func:`retry.run` confirms the task's lease only before
it. A conductor paused between the off and the on (SIGSTOP, a frozen VM:
its lease ran out and another conductor took the node) must not power on
a machine another conductor drives: the driver confirms the lease before
the on, and nothing more reaches the BMC or PDU.

Real ipmitool against the pyghmi fake BMC, real SNMP against snmpsim (via
the recording proxy). The pause is simulated as in test_bb_lease7_gate:
right after the off, the task leaves the keeper, its last renewal is dated
a lease back and another conductor takes the expired lease.
"""

import datetime
import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers.modules import ipmitool as ipmitool_module
from hwdrivers.drivers.modules import snmp as snmp_module
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures.ipmi_bmc import needs_ipmitool, start_fake_bmcs

CTX = hw_context.get_admin_context()
THIEF = "other-conductor:1"
APC_CTL = "1.3.6.1.4.1.318.1.1.4.4.2.1.3"


def pause_and_steal(task):
    """As if the process was stopped for a whole lease, then another took the node."""
    task_manager.LEASES.discard(task)
    duration = task_manager.CONF.conductor.lease_duration
    task.renewed(time.monotonic() - duration, duration)
    assert db_api.renew_reservations([(task.node.id, task.owner)],
                                     -datetime.timedelta(hours=1)) == {task.node.id}
    assert db_api.reserve_node(task.node.id, THIEF, datetime.timedelta(minutes=1))


def paused_after(monkeypatch, cls, name, when=lambda *args: True):
    # A wrapper around the driver's own step (it runs for real), not a mock.
    """Pause the task (:func:`pause_and_steal`) right after ``cls.name`` returns."""
    real = getattr(cls, name)

    def then_paused(self, task, *args, **kwargs):
        result = real(self, task, *args, **kwargs)
        if when(*args):
            pause_and_steal(task)
        return result
    monkeypatch.setattr(cls, name, then_paused)


def node_for(driver, driver_info):
    return db_api.create_node({"driver": driver, "name": "gated-%s" % driver,
                               "driver_info": driver_info})


@needs_ipmitool
@pytest.mark.parametrize("reboot", [PowerState.REBOOT, PowerState.SOFT_REBOOT])
def test_an_ipmi_reboot_whose_lease_is_lost_after_the_off_sends_no_on(
        database, config, monkeypatch, reboot):
    config(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
           enabled_management_interfaces=["ipmitool"], ipmi__command_retry_timeout=0,
           ipmi__timeout=1, ipmi__retries=1, conductor__soft_power_off_timeout=5)
    with start_fake_bmcs(1, refuse_cycle=True, soft_off_delay=0.1) as bmcs:
        port = bmcs.ports[0]
        standalone = StandaloneTask.for_driver("ipmi", driver_info=bmcs.driver_info(0))
        standalone.driver.power.set_power_state(standalone, PowerState.ON)
        node = node_for("ipmi", bmcs.driver_info(0))
        if reboot == PowerState.REBOOT:  # the fallback's off
            paused_after(monkeypatch, ipmitool_module.IPMIPower, "_off")
        else:  # the ACPI off sent, the wait for the OS to stop over
            paused_after(monkeypatch, ipmitool_module.IPMIPower, "_wait_off")
        before = len(bmcs.events(port))
        with task_manager.acquire(CTX, node["id"], purpose="reboot") as task:
            with pytest.raises(exception.LeaseLost, match="nothing more sent"):
                task.driver.power.set_power_state(task, reboot)
        sent = bmcs.events(port)[before:]
    assert "power_on" not in sent and "boot" not in sent
    assert sent[-1] in ("power_off", "soft_off_done")
    assert db_api.get_reservation(node["id"])[0] == THIEF


def test_a_pdu_reboot_whose_lease_is_lost_during_the_delay_sends_no_on(
        database, config, monkeypatch, snmp_agent, snmp_proxy):
    config(enabled_hardware_types=["snmp"], enabled_power_interfaces=["snmp"],
           enabled_management_interfaces=["noop"], snmp__reboot_delay=0.05,
           snmp__timeout=0.3, snmp__retries=1, snmp__command_retry_timeout=1.0,
           snmp__power_timeout=2.0)
    outlet = 11
    with snmp_proxy() as proxy:
        info = snmp_agent.driver_info("apc", outlet, port=proxy.port)
        standalone = StandaloneTask.for_driver("snmp", driver_info=info)
        standalone.driver.power.set_power_state(standalone, PowerState.ON)
        node = node_for("snmp", info)
        paused_after(monkeypatch, snmp_module.SNMPPower, "_switch",
                     when=lambda info, snmp, target, timeout: target == PowerState.OFF)
        control = ("%s.%d" % (APC_CTL, outlet),)
        before = len([e for e in proxy.exchanges if e.oids == control])
        with task_manager.acquire(CTX, node["id"], purpose="reboot") as task:
            with pytest.raises(exception.LeaseLost, match="nothing more sent"):
                task.driver.power.reboot(task)
        sent = [e for e in proxy.exchanges if e.oids == control][before:]
        monkeypatch.undo()
        # SET off, GET (reads off); no SET on.
        assert len(sent) == 2
        assert standalone.driver.power.get_power_state(standalone) == PowerState.OFF
    assert db_api.get_reservation(node["id"])[0] == THIEF
