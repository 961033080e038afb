"""``baremetal conductor list|show`` and openstacksdk against the real server.

/v1/conductors is gated at API 1.49, as in Ironic. Ironic's own clients
must keep working: the ``baremetal`` CLI negotiates the newest version,
openstacksdk asks for its Conductor resource's 1.49; an explicit older
version gets Ironic's 404. ``--long`` (detail) and ``--fields`` each work;
the server refuses them together, as Ironic does.
"""

import json

import pytest

from tests.functional import server_proc
from tests.functional.ironic_clients import baremetal, sdk

HOST = "cond7-conductor"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bb-cond7")
    with server_proc.running(tmp_path, name="cond7", host=HOST) as proc:
        proc.home = tmp_path / "home"
        yield proc


def _json(proc):
    return json.loads(proc.stdout)


def test_baremetal_conductor_commands(server):
    (listed,) = _json(baremetal(server, "conductor", "list", "-f", "json"))
    assert listed == {"hostname": HOST, "conductor_group": "", "alive": True}
    (long,) = _json(baremetal(server, "conductor", "list", "--long", "-f", "json"))
    assert long["hostname"] == HOST and "fake-hardware" in long["drivers"]
    (some,) = _json(baremetal(server, "conductor", "list", "--fields", "hostname", "alive",
                              "-f", "json"))
    assert some == {"hostname": HOST, "alive": True}
    shown = _json(baremetal(server, "conductor", "show", HOST, "-f", "json"))
    assert shown["hostname"] == HOST and shown["alive"] is True

    old = baremetal(server, "--os-baremetal-api-version", "1.48", "conductor", "list",
                    check=False)
    assert old.returncode != 0
    assert "added in 1.49" in " ".join(old.stderr.split()), old.stderr


def test_openstacksdk_conductors(server):
    conn = sdk(server)
    (listed,) = list(conn.baremetal.conductors())
    assert (listed.hostname, listed.alive) == (HOST, True)
    shown = conn.baremetal.get_conductor(HOST)
    assert shown.hostname == HOST and "fake-hardware" in shown.drivers


def test_detail_with_fields_is_a_400(server):
    status, body = server.call("GET", "/v1/conductors?detail=true&fields=hostname")
    assert status == 400
    assert "cannot be combined" in json.loads(body["error_message"])["faultstring"]
