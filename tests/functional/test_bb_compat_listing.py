"""Listing nodes as an operator of many does, with Ironic's own clients.

One real ``hwdrivers-server`` (tests/functional/server_proc.py) with a
small ``[api] max_limit``, so a few dozen nodes span several pages: the
``baremetal`` CLI and openstacksdk filter and page through them exactly as
they would through Ironic's.
"""

import collections
import json
import sqlite3

import pytest

from tests.functional import server_proc
from tests.functional.ironic_clients import baremetal, sdk

PAGE = 4


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bb-compat-listing")
    with server_proc.running(tmp_path, name="listing",
                             options={"api": {"max_limit": PAGE}}) as proc:
        proc.home = tmp_path / "home"
        yield proc


def _create(server, name, **fields):
    status, body = server.call("POST", "/v1/nodes", dict(
        {"driver": "fake-hardware", "name": name}, **fields),
        headers={"X-OpenStack-Ironic-API-Version": "1.46"})
    assert status == 201, body
    return body["uuid"]


def test_filters_ironic_clients_send_page_with_the_filter(server):
    """``--conductor-group``, ``--fault``, ``--resource-class``, ``--retired``...
    used to be 400s (unknown query parameter); a typo in ``--provision-state``
    used to list nothing, silently."""
    rack = {_create(server, "rack-%d" % i, conductor_group="rack7") for i in range(10)}
    others = {_create(server, "other-%d" % i) for i in range(3)}
    broken = _create(server, "broken")
    conn = sqlite3.connect(str(server.db_path), timeout=30)
    with conn:  # what the power sync records when a BMC stops answering
        conn.execute("UPDATE nodes SET fault = 'power failure', maintenance = 1 "
                     "WHERE uuid = ?", (broken,))
    conn.close()

    # The CLI follows the `next` links (pages of PAGE): each node once, filter kept.
    listed = baremetal(server, "node", "list", "--conductor-group", "RACK7", "--limit",
                       "0", "-f", "value", "-c", "uuid").stdout.split()
    assert collections.Counter(listed) == collections.Counter(rack)
    faulty = json.loads(baremetal(server, "node", "list", "--fault", "power failure",
                                  "--maintenance", "-f", "json").stdout)
    assert [n["uuid"] for n in faulty] == [broken]

    # Fields hwdrivers does not model are null/false on every node.
    every = rack | others | {broken}
    for flag in (("--resource-class", "baremetal"), ("--owner", "tenant1"),
                 ("--lessee", "tenant2"), ("--retired",)):
        proc = baremetal(server, "node", "list", *flag, "-f", "json")
        assert json.loads(proc.stdout) == [], flag
    assert set(baremetal(server, "node", "list", "--no-retired", "--limit", "0", "-f",
                         "value", "-c", "uuid").stdout.split()) == every

    assert set(baremetal(server, "node", "list", "--conductor", "functest-conductor",
                         "--limit", "0", "-f", "value", "-c", "uuid").stdout.split()) == every
    assert json.loads(baremetal(server, "node", "list", "--conductor", "elsewhere", "-f",
                                "json").stdout) == []

    nodes = list(sdk(server).baremetal.nodes(details=True, conductor_group="rack7"))
    assert sorted(n.id for n in nodes) == sorted(rack)
    assert list(sdk(server).baremetal.nodes(resource_class="baremetal")) == []

    proc = baremetal(server, "node", "list", "--provision-state", "availble", check=False)
    assert proc.returncode == 1
    assert ("Query parameter provision_state: 'availble' is not a provision state; use "
            "one of: enroll, verifying, manageable, available," in proc.stderr), proc.stderr
    assert "(HTTP 400)" in proc.stderr


def _follow(server, path, key):
    """Every item of a listing, following its ``next`` links as Ironic clients do."""
    items, url = [], server.url + path
    while url:
        assert url.startswith(server.url), url
        status, body = server.call("GET", url[len(server.url):])
        assert status == 200, body
        items += body[key]
        url = body.get("next")
    return items


def test_sort_key_and_dir_page_through_ports_and_nodes(server):
    """``sort_key``/``sort_dir`` on ports (gophercloud sends them) were a 400,
    as were node sort keys such as conductor_group and provision_updated_at;
    ``baremetal port list --port-group`` and ``port unset --physical-network``
    were 400s too."""
    node = _create(server, "ports-host", conductor_group="zz-last")
    macs = ["52:54:00:00:10:%02x" % i for i in (3, 1, 9, 4, 7, 2, 8, 5, 6)]
    for mac in macs:
        status, body = server.call("POST", "/v1/ports", {"address": mac, "node_uuid": node})
        assert status == 201, body
    ports = _follow(server, "/v1/ports?sort_key=address&sort_dir=desc&fields=address",
                    "ports")
    assert [p["address"] for p in ports] == sorted(macs, reverse=True)
    ports = _follow(server, "/v1/nodes/ports-host/ports?sort_key=address&limit=2",
                    "ports")
    assert [p["address"] for p in ports] == sorted(macs)

    nodes = _follow(server, "/v1/nodes?sort_key=conductor_group&sort_dir=desc"
                    "&fields=uuid,conductor_group", "nodes")
    groups = [n["conductor_group"] for n in nodes]
    assert groups == sorted(groups, reverse=True) and groups[0] == "zz-last"
    assert len({n["uuid"] for n in nodes}) == len(nodes)
    by_updated = _follow(server, "/v1/nodes?sort_key=provision_updated_at&fields=uuid",
                         "nodes")
    assert sorted(n["uuid"] for n in by_updated) == sorted(n["uuid"] for n in nodes)

    assert json.loads(baremetal(server, "port", "list", "--port-group", "pg1", "-f",
                                "json").stdout) == []
    first = ports[0]["uuid"]
    baremetal(server, "port", "unset", first, "--physical-network")
    proc = baremetal(server, "port", "set", first, "--physical-network", "physnet1",
                     check=False)
    assert proc.returncode == 1
    assert ("hwdrivers does not store /physical_network (always null), so it cannot be "
            "set" in proc.stderr), proc.stderr


def test_ironic_resources_hwdrivers_lacks_say_so(server):
    """``baremetal node trait list`` used to read like a typo ("The resource
    ... could not be found."), as if the node or the URL were wrong."""
    _create(server, "plain")
    # Reading a collection hwdrivers does not store: empty, as the node shows.
    for args in (("node", "trait", "list", "plain"), ("node", "vif", "list", "plain"),
                 ("port", "group", "list"), ("port", "group", "list", "--node", "plain")):
        assert json.loads(baremetal(server, *args, "-f", "json").stdout) == [], args
    assert "Node nowhere could not be found" in baremetal(
        server, "node", "trait", "list", "nowhere", check=False).stderr
    # Changing one: an error saying hwdrivers does not implement it.
    for args, what in ((("node", "add", "trait", "plain", "CUSTOM_X"), "traits"),
                       (("node", "vif", "attach", "plain", "vif-1"), "VIFs"),
                       (("port", "group", "create", "--node", "plain"), "port groups"),
                       (("node", "boot", "mode", "set", "plain", "uefi"), "boot mode"),
                       (("driver", "raid", "property", "list", "fake-hardware"), "RAID")):
        proc = baremetal(server, *args, check=False)
        assert proc.returncode == 1
        assert "hwdrivers does not implement Ironic's %s" % what in proc.stderr, proc.stderr
        assert "(HTTP 404)" in proc.stderr or "(HTTP 405)" in proc.stderr
    status, body = server.call("GET", "/v1/nodes/plain/nonsense")
    assert status == 404
    assert json.loads(body["error_message"])["faultstring"] == (
        "The resource /v1/nodes/plain/nonsense could not be found.")
    # A hardware type's own vendor methods: none (the node's are listed per node).
    assert baremetal(server, "driver", "passthru", "list", "fake-hardware", "-f",
                     "json").stdout.strip() == "[]"
