"""``GET /v1/conductors`` on hwdrivers-server counts every node it drives.

hwdrivers-server is the only conductor of a one-process deployment and
drives every node whatever its conductor_group (doc/scale-out.md; each
node shows it as its ``conductor``). Its ``owned_nodes`` counted only the
nodes its own group's hash ring gave it: nodes kept in group ``dc2`` for a
later scale-out were missing, and a server configured in a group owned
none of the default group's nodes while it powered them.

The server's API app (a Flask test client over a real ConductorManager)
on SQLite, as tests/api builds it.
"""

import pytest

from hwdrivers.api import app as app_mod
from hwdrivers.db import api as db_api
from tests.api.conftest import Client
from tests.api.conftest import Service


@pytest.fixture
def server_api(sqlite_database):
    service = Service()
    yield Client(app_mod.create_app(service).test_client())
    service.manager.workers.shutdown(wait=True, timeout=10)


@pytest.mark.parametrize("server_group", ["", "dc1"])
def test_the_server_owns_every_node_whatever_its_group(server_api, config, server_group):
    config(host="srv", conductor__conductor_group=server_group)
    # What hwdrivers-server registers: its host, its group, no JSON-RPC URL.
    db_api.register_conductor("srv", ["fake-hardware"], conductor_group=server_group)
    for index, group in enumerate(["", "", "dc1", "dc2"]):
        db_api.create_node({"driver": "fake-hardware", "name": "n%d" % index,
                            "conductor_group": group})
    (doc,) = server_api.get("/v1/conductors").get_json()["conductors"]
    assert doc["hostname"] == "srv" and doc["owned_nodes"] == 4, doc
    assert server_api.get("/v1/conductors/srv").get_json()["owned_nodes"] == 4
    # As the nodes say: the server is each one's conductor.
    nodes = server_api.get("/v1/nodes?conductor=srv").get_json()["nodes"]
    assert len(nodes) == 4


def test_other_rows_are_still_counted_by_their_ring(server_api, config):
    config(host="srv")
    db_api.register_conductor("srv", ["fake-hardware"])
    db_api.register_conductor("c2", ["fake-hardware"], conductor_group="dc2",
                              rpc_url="http://127.0.0.1:8089")
    for index, group in enumerate(["", "dc2", "dc3"]):
        db_api.create_node({"driver": "fake-hardware", "name": "n%d" % index,
                            "conductor_group": group})
    counts = {doc["hostname"]: doc["owned_nodes"]
              for doc in server_api.get("/v1/conductors").get_json()["conductors"]}
    assert counts == {"srv": 3, "c2": 1}


def test_the_local_cli_counts_the_server_by_its_row(sqlite_database, config):
    """``hwdrivers conductor list`` on the database (no server asking): the row
    with no JSON-RPC URL is a one-process server's, and it owns every node."""
    from hwdrivers.conductor import hash_ring
    from hwdrivers.drivers import factory

    config(host="cli-host")  # the CLI's own host is no conductor
    db_api.register_conductor("srv", ["fake-hardware"], conductor_group="dc1")
    for index, group in enumerate(["", "dc1", "dc2"]):
        db_api.create_node({"driver": "fake-hardware", "name": "n%d" % index,
                            "conductor_group": group})
    rows = hash_ring.conductor_summaries(factory.get_registry())
    assert [(row["hostname"], row["owned_nodes"]) for row in rows] == [("srv", 3)]
