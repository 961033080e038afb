"""Fixtures the unit tests share."""

import pytest

from hwdrivers.conductor import manager as manager_mod


@pytest.fixture
def manager(sqlite_database):
    """A ConductorManager on a fresh SQLite database, with no worker pool: the
    provisioning work it starts runs inline, in the test's thread. A module
    that needs another (patches first, another database) defines its own."""
    return manager_mod.ConductorManager()
