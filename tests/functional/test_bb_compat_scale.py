"""Ironic's clients behind ``hwdrivers-api`` (scaled out): which conductor owns a node.

A real deployment (tests/functional/scale_cluster.py): two conductors and
an API process on PostgreSQL. A node's ``conductor`` is its owner on the
hash ring, whatever fields a listing asks for, and ``?conductor=``
(``baremetal node list --conductor``) lists the nodes a conductor owns,
page after page.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.functional import scale_cluster

BAREMETAL = os.path.join(os.path.dirname(sys.executable), "baremetal")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path_factory.mktemp("bbcompat-scale"), _postgresql)
    try:
        cluster.add_conductor("cc1")
        cluster.add_conductor("cc2")
        cluster.add_api("compat-api", {"api": {"max_limit": 3}})
        cluster.wait_live(["cc1", "cc2"])
        cluster.home = cluster.tmp / "home"
        yield cluster
    finally:
        cluster.close()


def baremetal(cluster, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(cluster.home)
    proc = subprocess.run([BAREMETAL, "--os-endpoint", cluster.apis[0].url,
                           "--os-auth-type", "none"] + list(args),
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "baremetal %s:\n%s\n%s" % (" ".join(args), proc.stdout,
                                                          proc.stderr)
    return proc.stdout


def test_conductor_field_and_filter_name_the_owner(cluster):
    """``--fields uuid conductor`` used to show the API process's host name;
    ``--conductor`` was a 400 (unknown query parameter)."""
    api = cluster.apis[0]
    for i in range(12):
        status, doc = api.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                     "name": "own-%d" % i})
        assert status == 201, doc
    detail = json.loads(baremetal(cluster, "node", "list", "--long", "--limit", "0",
                                  "-f", "json"))
    owners = {n["uuid"]: n["conductor"] for n in detail}
    assert len(owners) == 12 and set(owners.values()) == {"cc1", "cc2"}, owners

    fields = json.loads(baremetal(cluster, "node", "list", "--fields", "uuid", "conductor",
                                  "--limit", "0", "-f", "json"))
    assert {n["uuid"]: n["conductor"] for n in fields} == owners

    for host in ("cc1", "cc2"):
        listed = baremetal(cluster, "node", "list", "--conductor", host, "--limit", "0",
                           "-f", "value", "-c", "uuid").split()
        assert sorted(listed) == sorted(u for u, o in owners.items() if o == host), host
    assert baremetal(cluster, "node", "list", "--conductor", "compat-api", "-f",
                     "value").strip() == ""
