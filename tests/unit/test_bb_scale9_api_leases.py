"""An hwdrivers-api's leases are its own, not those of a conductor of its host.

Both processes take the machine's name as ``[DEFAULT] host``, and a
conductor's restart (and its reaping by the others) releases every lease
starting with ``<host>:``, marking those nodes' operations aborted: the
API's record updates under a node's lock were among them. The API now
names its leases ``<host> (api):<token>``, which no conductor's prefix
matches (a host has no spaces).
"""

import pytest
from oslo_config import cfg

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api


@pytest.fixture
def api_process(monkeypatch, config):
    config(host="m1")
    monkeypatch.setattr(task_manager, "_ROLE", "")
    task_manager.own_leases_as("api")


def test_a_conductor_restart_on_the_same_host_leaves_the_apis_lease(database, api_process):
    node = db_api.create_node({"driver": "fake-hardware", "name": "patched"})
    with task_manager.acquire(hw_context.get_admin_context(), node["id"],
                              purpose="record update"):
        owner, _expires = db_api.get_reservation(node["id"])
        assert owner.startswith("m1 (api):"), owner
        # What conductor m1 releases when it restarts (service.lease_prefix).
        assert db_api.release_reservations_with_prefix("%s:" % cfg.CONF.host) == []
        assert db_api.get_reservation(node["id"])[0] == owner
    assert db_api.get_reservation(node["id"])[0] is None


def test_a_conductors_own_leases_still_carry_its_host(database, config, monkeypatch):
    config(host="m1")
    monkeypatch.setattr(task_manager, "_ROLE", "")
    assert task_manager.make_owner().startswith("m1:")
    assert task_manager.process_lease_prefix().startswith("m1:")
