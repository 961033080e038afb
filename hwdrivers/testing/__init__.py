"""Test tools that ship with hwdrivers: peers and machines to test drivers against.

For driver authors and hwdrivers' own suite alike (``pip install
'hwdrivers[testing]'``; doc/writing-a-driver.md shows them in use):

- emulators as :class:`fixtures.Fixture` classes, usable from testtools'
  ``useFixture``, unittest (``with``/``setUp``) and pytest (``with`` in a
  fixture): :class:`FakeBmcFixture` (pyghmi fake BMCs),
  :class:`IPMISimFixture` (OpenIPMI's ipmi_sim, with serial over LAN),
  :class:`RedfishEmulatorFixture` (sushy-tools), :class:`SnmpAgentFixture`
  (an snmpsim PDU), :class:`SshdFixture` (OpenSSH), :class:`BlackHoleFixture`
  and :class:`ClosedPortFixture` (peers that never answer or refuse),
  :class:`MachineFixture` (the machine simulator);
- :class:`ConfigFixture` (hwdrivers' options at their defaults, private
  state) and :class:`DatabaseFixture` (SQLite, or PostgreSQL from
  ``$HWDRIVERS_TEST_DB_URL``);
- :mod:`hwdrivers.testing.conformance`: the checks every power and
  management interface must pass.

An emulator that cannot run here raises :class:`Unavailable`, a skip.

Nothing heavy loads with this package: the names above are imported on
first use, and the product itself imports only :mod:`.simulator` and
:mod:`.sim_driver` (the ``sim`` hardware type) from here.
"""

import importlib

_EXPORTS = {
    "BlackHoleFixture": "blackhole", "ClosedPortFixture": "blackhole",
    "ConfigFixture": "config", "DatabaseFixture": "database",
    "FakeBmcFixture": "ipmi_bmc", "IPMISimFixture": "ipmi_sim",
    "MachineFixture": "machines",
    "RedfishEmulatorFixture": "redfish_emulator", "SnmpAgentFixture": "snmp_agent",
    "SshdFixture": "sshd", "Unavailable": "processes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("%s.%s" % (__name__, module)), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
