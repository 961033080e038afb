"""What the snmp driver's tests on the emulated PDU share (tests/fixtures/snmp_agent.py)."""

import threading

from hwdrivers.drivers import retry

#: The snmp driver's settings for the tests on the emulated PDU: short timeouts
#: (snmpsim answers at once, or never) and a short reboot delay.
SETTINGS = dict(enabled_hardware_types=["snmp"], enabled_power_interfaces=["snmp"],
                enabled_management_interfaces=["noop"], snmp__reboot_delay=0.05,
                snmp__timeout=0.3, snmp__retries=1, snmp__command_retry_timeout=3.0,
                snmp__power_timeout=2.0)


def configure(config, **overrides):
    """Set :data:`SETTINGS` (with ``overrides``) through the ``config`` fixture; ``config``."""
    config(**dict(SETTINGS, **overrides))
    return config


def switch_at_once(tasks, target, gate=None):
    """Switch every task's outlet to ``target``, a thread each, all let go at once.

    Each goes through ``retry.run`` with ``gate`` (the controller limiter's
    slot, or None for none). Returns the exceptions raised, for the caller to
    assert on.
    """
    barrier = threading.Barrier(len(tasks))
    errors = []

    def switch(task):
        power = task.driver.power
        try:
            barrier.wait()
            retry.run(task, power, power.set_power_state, target, gate=gate)
        except Exception as exc:  # noqa: BLE001 (returned to the caller)
            errors.append(exc)

    threads = [threading.Thread(target=switch, args=(t,)) for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors
