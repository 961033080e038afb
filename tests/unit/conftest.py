"""Fixtures the unit tests share."""

import functools

import pytest

from hwdrivers.conductor import manager as manager_mod
from hwdrivers.drivers.modules import fake
from tests.unit.agent_peer import agent_peer  # noqa: F401 - a fixture the tests share


@pytest.fixture
def manager(sqlite_database):
    """A ConductorManager on a fresh SQLite database, with no worker pool: the
    provisioning work it starts runs inline, in the test's thread. A module
    that needs another (patches first, another database) defines its own."""
    return manager_mod.ConductorManager()


def replace_erase_devices(monkeypatch, replacement):
    """Make the fake deploy interface's erase_devices clean step run ``replacement``.

    ``functools.wraps`` keeps the step's clean-step marks (priority...), so
    cleaning still finds and orders it.
    """
    original = fake.FakeDeploy.erase_devices
    monkeypatch.setattr(fake.FakeDeploy, "erase_devices", functools.wraps(original)(replacement))


@pytest.fixture
def clean_calls(monkeypatch):
    """What cleaning asked of the fake deploy interface, in order."""
    seen = []
    replace_erase_devices(monkeypatch, lambda self, task: seen.append("erase_devices"))
    for name in ("prepare_cleaning", "tear_down_cleaning"):
        monkeypatch.setattr(fake.FakeDeploy, name,
                            lambda self, task, name=name: seen.append(name), raising=False)
    return seen
