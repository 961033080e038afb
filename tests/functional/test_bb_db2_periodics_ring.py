"""Periodic clean-ups of two conductors sharing one PostgreSQL database.

The deploy and inspection timeouts (and the clean-ups of what a restart
failed) and the power-failure recovery each run in every conductor: each
must act on the nodes it owns on the hash ring only, as the power sync
does. They acted on every node: two conductors raced for each node's lock,
and one powered off nodes another drives.

Two real ConductorService objects (hosts c1 and c2, one group) on the
PostgreSQL database; the periodics' threads are started with an interval of
an hour and their functions called directly, once each, so nothing is timed.
"""

import time

import pytest

from hwdrivers.conductor import hash_ring
from hwdrivers.conductor import inspection
from hwdrivers.conductor import service as service_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from hwdrivers.drivers.modules import fake
from hwdrivers.objects import node as node_obj

PERIODICS = ("deploy-timeouts", "inspect-timeouts", "power-recovery")


def _periodic(svc, name):
    (thread,) = [t for t in svc._threads if t.name == "hwdrivers-%s" % name]
    return thread.func


def _nodes(count):
    """``count`` nodes of each kind a periodic acts on; {uuid: kind}."""
    old = time.time() - 3600
    kinds = {
        "deploy-wait": {"provision_state": "wait call-back",
                        "target_provision_state": "active",
                        "driver_internal_info": {"wait_started_at": old}},
        "deploy-orphan": {"provision_state": "deploy failed",
                          "last_error": "aborted by a conductor restart",
                          "driver_internal_info": {"deploy_steps": [
                              {"interface": "deploy", "step": "deploy", "priority": 100}]}},
        "inspect-wait": {"provision_state": "inspect wait",
                         "target_provision_state": "manageable",
                         "driver_internal_info": {inspection.WAIT_KEY: old}},
        "inspect-orphan": {"provision_state": "inspect failed",
                           "last_error": "aborted by a conductor restart",
                           "driver_internal_info": {inspection.WAIT_KEY: old}},
        "power-failed": {"provision_state": "available", "maintenance": True,
                         "fault": "power failure", "maintenance_reason": "no answer"},
    }
    made = {}
    for kind, values in kinds.items():
        for i in range(count):
            row = db_api.create_node(dict(
                values, driver="fake-hardware", name="%s-%d" % (kind, i),
                power_state="power on",
                # fixed ring keys: a fixed split between c1 and c2
                driver_info={"fake_controller": "ctl-%s-%d" % (kind, i)}))
            made[row["uuid"]] = kind
    return made


def _acted_on(made):
    """The UUIDs whose node a periodic changed."""
    acted = set()
    for uuid, kind in made.items():
        row = db_api.get_node(uuid)
        if kind == "power-failed":
            changed = not row["maintenance"]
        elif kind.endswith("-orphan"):
            changed = row["power_state"] == "power off"
        else:
            changed = row["provision_state"].endswith("failed")
        if changed:
            acted.add(uuid)
    return acted


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_each_conductor_runs_its_periodics_on_its_own_nodes(database, config, monkeypatch):
    # the deploy clean-up is for step-driven deploys (direct); fake's stands in
    monkeypatch.setattr(fake.FakeDeploy, "step_driven", True, raising=False)
    config(deploy__check_timeouts_interval=3600, deploy__callback_timeout=60,
           conductor__sync_power_state_interval=3600,
           conductor__power_failure_recovery_interval=3600,
           conductor__heartbeat_interval=3600, conductor__heartbeat_timeout=600)
    services = {}
    try:
        for host in ("c1", "c2"):
            config(host=host)
            services[host] = service_mod.ConductorService(partitioned=True)
            services[host].start()
        for svc in services.values():
            svc.rings.refresh()  # c1 joined before c2
        made = _nodes(6)
        registry = factory.get_registry()
        ring = hash_ring.Ring(["c1", "c2"])
        owned = {host: {uuid for uuid in made if ring.owner(hash_ring.node_key(
            registry, node_obj.Node(db_api.get_node(uuid)))) == host}
            for host in services}
        for host in services:  # each kind has nodes on both sides
            assert {made[uuid] for uuid in owned[host]} == set(made.values()), host

        for name in PERIODICS:
            _periodic(services["c1"], name)()
        assert _acted_on(made) == owned["c1"]  # c2's nodes untouched
        for name in PERIODICS:
            _periodic(services["c2"], name)()
        assert _acted_on(made) == set(made)
    finally:
        for svc in services.values():
            svc.stop(timeout=5)
