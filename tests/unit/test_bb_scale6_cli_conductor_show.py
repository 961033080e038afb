"""``hwdrivers conductor show HOSTNAME``, as Ironic's ``baremetal conductor show``.

Only ``conductor list`` existed: an operator looking at one conductor (its
hardware types, when it registered, its last heartbeat) had to go to the
API by hand. On the local database here; through the API in
tests/functional/test_bb_scale6_cli_conductor_show_http.py.
"""

import json

import pytest

from hwdrivers.db import api as db_api
from tests import cli_run


@pytest.fixture
def run(database, tmp_path, capsys):
    return cli_run.runner(cli_run.empty_config(tmp_path), capsys)


def test_conductor_show_on_the_database(run):
    db_api.register_conductor("c1", ["fake-hardware", "ipmi"], conductor_group="dc2")
    out, _ = run("conductor", "show", "c1", "-f", "json")
    doc = json.loads(out)
    assert set(doc) == {"hostname", "conductor_group", "alive", "owned_nodes", "drivers",
                        "created_at", "updated_at"}
    assert (doc["hostname"], doc["conductor_group"], doc["alive"], doc["owned_nodes"],
            doc["drivers"]) == ("c1", "dc2", True, 0, ["fake-hardware", "ipmi"])
    assert doc["updated_at"] == db_api.get_conductor("c1")["updated_at"].isoformat() + "+00:00"
    _, err = run("conductor", "show", "ghost", expect=1)
    assert "Conductor ghost could not be found" in err
