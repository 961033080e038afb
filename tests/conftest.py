"""Fixtures live in tests/fixtures/, one module per kind, loaded as plugins."""

pytest_plugins = [
    "tests.fixtures.config",
    "tests.fixtures.db",
    "tests.fixtures.ipmi_bmc",
    "tests.fixtures.ipmi_sim",
    "tests.fixtures.redfish_emulator",
    "tests.fixtures.snmp_agent",
    "tests.fixtures.sshd",
    "tests.fixtures.external_drivers",
    "tests.fixtures.blackhole",
]
