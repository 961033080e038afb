"""``disable_ramdisk`` with target clean (``baremetal node clean --disable-ramdisk``).

hwdrivers' manual cleaning never boots a ramdisk (its steps act through the
BMC), yet the flag was refused as unsupported (400), failing Ironic's
clients and the scripts that send it for out-of-band steps. It is now
taken with target clean, checked as Ironic checks it: a boolean, API 1.70
or later (406 below), with no other target (400).
"""

import json

import pytest

from hwdrivers.api import app as app_mod
from hwdrivers.api import microversions
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api
from tests.waits import wait_for

STEPS = [{"interface": "deploy", "step": "erase_devices"}]
LATEST = microversions.fmt(microversions.MAX_VERSION)


class _Service:
    def __init__(self):
        self.manager = manager_mod.ConductorManager()  # no pool: the work runs inline


@pytest.fixture
def client(sqlite_database):
    client = app_mod.create_app(_Service()).test_client()

    def put(path, body, version=LATEST):
        return client.put(path, data=json.dumps(body), headers={
            microversions.HEADER: version, "Content-Type": "application/json"})

    resp = client.post("/v1/nodes", data=json.dumps(
        {"driver": "fake-hardware", "name": "dr1"}), headers={
        "Content-Type": "application/json",
        microversions.HEADER: LATEST})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert put("/v1/nodes/dr1/states/provision", {"target": "manage"}).status_code == 202
    wait_for(lambda: db_api.get_node("dr1")["provision_state"] == "manageable",
             message="manageable")
    return put


def _fault(resp):
    return json.loads(resp.get_json()["error_message"])["faultstring"]


@pytest.mark.parametrize("flag", [True, False])
def test_clean_with_disable_ramdisk_runs_the_steps(client, flag):
    resp = client("/v1/nodes/dr1/states/provision",
                  {"target": "clean", "clean_steps": STEPS, "disable_ramdisk": flag})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    record = wait_for(lambda: (lambda r: r if r["provision_state"] == "manageable"
                               and r["reservation"] is None else None)(
        db_api.get_node("dr1")), message="cleaned")
    assert record["last_error"] is None


@pytest.mark.parametrize("body, status, words", [
    ({"target": "provide", "disable_ramdisk": True}, 400,
     "disable_ramdisk is accepted with target clean only, not provide"),
    ({"target": "clean", "clean_steps": STEPS, "disable_ramdisk": "yes"}, 400,
     "disable_ramdisk must be true or false"),
])
def test_disable_ramdisk_refusals(client, body, status, words):
    resp = client("/v1/nodes/dr1/states/provision", body)
    assert resp.status_code == status
    assert words in _fault(resp)
    assert db_api.get_node("dr1")["provision_state"] == "manageable"


def test_disable_ramdisk_needs_api_1_70(client):
    resp = client("/v1/nodes/dr1/states/provision",
                  {"target": "clean", "clean_steps": STEPS, "disable_ramdisk": True},
                  version="1.69")
    assert resp.status_code == 406
    assert "1.70" in _fault(resp)
