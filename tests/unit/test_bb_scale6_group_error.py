"""A node whose conductor_group no live conductor serves: the 503 says what to fix.

It said only to start a conductor in that group; a node put in a group by
mistake (a typo: ``rack22`` for ``rack2``) needs its own field changed, and
the operator needs to see which groups are served to know it.
"""

import pytest

from hwdrivers.conductor import hash_ring
from hwdrivers.db import api as db_api


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_the_error_names_the_served_groups_and_the_nodes_field(database, config):
    config(conductor__heartbeat_timeout=30)
    db_api.register_conductor("c1", ["fake-hardware"])
    db_api.register_conductor("r2", ["fake-hardware"], conductor_group="rack2")
    with pytest.raises(hash_ring.NoConductorForGroup) as caught:
        hash_ring.RingManager().owner("rack22", "node:x", "n1")
    message = str(caught.value)
    assert caught.value.code == 503
    assert "No conductor is alive in conductor group 'rack22' for node n1" in message
    assert "groups with a live conductor: '' (the default), 'rack2'" in message
    assert "[conductor] conductor_group = rack22" in message
    assert "set the node's conductor_group to a served group (PATCH /v1/nodes/n1)" in message


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_default_group_is_named_as_a_setting_one_can_write(database, config):
    """It read "Start one with [conductor] conductor_group = , or ...": a value
    that is not one."""
    config(conductor__heartbeat_timeout=30)
    db_api.register_conductor("r2", ["fake-hardware"], conductor_group="rack2")
    with pytest.raises(hash_ring.NoConductorForGroup) as caught:
        hash_ring.RingManager().owner("", "node:x", "n1")
    message = str(caught.value)
    assert "conductor_group unset or empty (the default group), or set" in message
    assert "= ," not in message
