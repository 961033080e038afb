"""A conductor restarted without a hardware type: its deployed nodes of that
type move to a survivor, which must take them over (deploy.take_over).

Since b85b273 a node is placed on the ring of the conductors of its group
that enable its hardware type. A conductor restarted with a shorter
``enabled_hardware_types`` keeps its host name, so its place on the ring of
the types it kept, but leaves the ring of the type it dropped: the nodes of
that type it owned now belong to another conductor, exactly as if it had
departed. ``ConductorService.take_over_departed`` only compares the *host
names* of the group between two heartbeats, so when the restart falls
between two of the survivor's heartbeats (a restart takes seconds, the
default heartbeat_interval is 10 s) nobody takes those nodes over.

Real ConductorService objects on PostgreSQL (the pattern of
tests/functional/conductor_services.py): the test runs the survivor's
heartbeat itself, so the restart falls between two of them every time.
"""

import logging
import threading

import pytest

from hwdrivers.conf import CONF
from hwdrivers.conductor import hash_ring
from hwdrivers.conductor import service as service_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from hwdrivers.objects import node as node_obj
from tests.waits import wait_for

BOTH = ["fake-hardware", "ipmi"]


def _service(config, host, types):
    config(host=host, enabled_hardware_types=types)
    svc = service_mod.ConductorService(registry=factory.Registry(CONF), partitioned=True)
    svc.start()
    return svc


def _ipmi_node_owned_by(host, hosts):
    """A deployed ipmi node (noop deploy) that ``host`` owns on a ring over ``hosts``."""
    ring, registry = hash_ring.Ring(hosts), factory.Registry(CONF)
    for index in range(200):
        row = db_api.create_node({
            "driver": "ipmi", "name": "bmc%d" % index, "provision_state": "active",
            "deploy_interface": "noop", "boot_interface": "noop",
            "driver_info": {"ipmi_address": "192.0.2.%d" % (index + 1)}})
        node = node_obj.Node(row)
        if ring.owner(hash_ring.node_key(registry, node)) == host:
            return node
        db_api.destroy_node(row["id"])
    raise AssertionError("no node for %s" % host)


def _take_overs_done():
    for thread in threading.enumerate():
        if thread.name == "hwdrivers-take-over":
            thread.join(60)


def _scenario(config, caplog, restart_types):
    """c2 and c3 enable fake-hardware and ipmi; c2 owns a deployed ipmi node; c2
    stops (and starts again with ``restart_types`` unless None) between two of
    c3's heartbeats; then c3's heartbeat. The node, once c3's take-overs ended."""
    config(conductor__sync_power_state_interval=0,
           conductor__power_failure_recovery_interval=0,
           deploy__check_timeouts_interval=0,
           conductor__heartbeat_interval=3600, conductor__heartbeat_timeout=60)
    caplog.set_level(logging.INFO, logger="hwdrivers")
    c3 = _service(config, "c3", BOTH)
    services = [c3]
    try:
        c2 = _service(config, "c2", BOTH)
        services.append(c2)
        node = _ipmi_node_owned_by("c2", ["c2", "c3"])
        c3.rings.refresh()
        c3.heartbeat()  # c3 knows c2 and c3, both with ipmi
        assert not c3.owns(node)

        c2.stop(timeout=5)
        if restart_types is not None:
            c2 = _service(config, "c2", restart_types)
            services.append(c2)
            c3.rings.refresh()
            assert not c2.owns(node)
        c3.rings.refresh()
        assert c3.owns(node)  # the ipmi node is c3's now, either way

        c3.heartbeat()
        _take_overs_done()
        return node
    finally:
        for svc in services:
            svc.stop(timeout=5)


def _taken_over(caplog, node):
    return "Node %s (active): taken over from conductor c2" % node.ident in caplog.text


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_departed_conductor_nodes_are_taken_over(database, config, caplog):
    """The control: c2 stops for good, and c3 takes its deployed ipmi node over."""
    node = _scenario(config, caplog, None)
    wait_for(lambda: _taken_over(caplog, node), 5, message="c3 taking over the node")


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_dropped_type_nodes_are_taken_over(database, config, caplog):
    """c2 restarts with fake-hardware only: its ipmi node is c3's, as if c2 had left."""
    node = _scenario(config, caplog, ["fake-hardware"])
    wait_for(lambda: _taken_over(caplog, node), 5, message="c3 taking over the node")
