"""Fixtures shared by the functional tests."""

import pytest

from tests.fixtures import ipmi_sim as sim_fixture
from tests.functional import console_env


@pytest.fixture
def sim(tmp_path):
    """OpenIPMI's ipmi_sim, a BMC with serial over LAN, for this test alone."""
    sim_fixture.require_ipmi_sim()
    sim = sim_fixture.IPMISim(str(tmp_path / "sim")).start()
    yield sim
    sim.stop()


@pytest.fixture
def serial():
    """A machine's serial line for the socat console profiles (console_env.serial_line)."""
    yield from console_env.serial_line()
