"""A node whose secrets' key was lost no longer fails every listing.

Found by the ops round: one such node made ``list_nodes`` raise its
SecretUnreadable (503), so ``node list``, ``GET /v1/nodes`` and the
conductor's periodic passes over nodes in a provision state (deploy and
inspection timeouts, clean-ups at start) failed for the whole fleet. Now a
listing shows the unreadable secret as ``******``, as every view shows a
secret anyway; showing the node, or acting on it, still fails naming it,
and a periodic pass skips it and checks the nodes after it.
"""

import logging

import pytest
from oslo_config import cfg

from hwdrivers.common import context as hw_context
from hwdrivers.common import secrets
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from hwdrivers.db import models


@pytest.fixture
def nodes(database):
    """Nodes lost-1, ok-2, lost-3 and ok-4 (manageable); lost-* sealed by a key gone."""
    secrets.keyring(cfg.CONF.secrets.key_file, create=True)
    made = {}
    for name in ("lost-1", "ok-2", "lost-3", "ok-4"):
        node = db_api.create_node({"driver": "fake-hardware", "name": name,
                                   "driver_info": {"fake_address": "10.0.0.9"}})
        made[name] = node["id"]
        db_api.update_node(node["id"], {"provision_state": "manageable"})
    with db_engine.writer() as conn:
        for name in ("lost-1", "lost-3"):
            conn.execute(models.nodes.update().where(models.nodes.c.id == made[name])
                         .values(driver_info={"fake_address": "10.0.0.9",
                                              "fake_password": {
                                                  secrets.ENVELOPE: "gAAAAA-a-lost-key"}}))
    return made


def test_a_listing_shows_the_unreadable_secret_masked(nodes):
    rows = {row["name"]: row["driver_info"] for row in db_api.list_nodes()}
    assert rows == {"lost-1": {"fake_address": "10.0.0.9", "fake_password": "******"},
                    "ok-2": {"fake_address": "10.0.0.9"},
                    "lost-3": {"fake_address": "10.0.0.9", "fake_password": "******"},
                    "ok-4": {"fake_address": "10.0.0.9"}}
    with pytest.raises(secrets.SecretUnreadable, match="lost-1"):
        db_api.get_node("lost-1")


def test_a_periodic_pass_skips_the_node_and_checks_those_after_it(nodes, caplog):
    caplog.set_level(logging.ERROR)
    seen = [task.node.name for task in task_manager.each_locked(
        hw_context.get_admin_context(), "manageable", lambda node: True, "probe pass")]
    assert seen == ["ok-2", "ok-4"]
    assert "probe pass: skipped" in caplog.text and "lost-1" in caplog.text
    # The skipped nodes' leases were given back.
    assert db_api.get_reservation(nodes["lost-1"])[0] is None
    assert db_api.get_reservation(nodes["lost-3"])[0] is None
