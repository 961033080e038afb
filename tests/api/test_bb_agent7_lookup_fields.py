"""What a ramdisk's lookup shows of the node: instance_info too, sanitized as Ironic's.

Ironic's lookup returns ``uuid``, ``properties``, ``instance_info`` and
``driver_internal_info``; IPA (and hwdrivers-agent) take the deploy's
``instance_info.root_device`` over the node's. Ours left instance_info out,
so a deploy's own root device hint was ignored. The ramdisk has no
credentials: what Ironic hides from such a caller stays hidden.
"""

from hwdrivers.conductor import deployments
from hwdrivers.db import api as db_api
from tests.api.conftest import row

MAC = "52:54:00:7a:00:01"
TOKEN = "agent-token-that-must-stay-hidden-0123456789"


def _waiting(api, make_node, name, **values):
    node = make_node(name)
    assert api.post("/v1/ports", {"address": MAC, "node_uuid": node["uuid"]}).status_code == 201
    db_api.update_node(row(name)["id"], dict(provision_state="wait call-back", **values))
    return node


def test_lookup_returns_instance_info_with_its_secrets_masked(api, make_node):
    _waiting(api, make_node, "lk7", properties={"root_device": {"serial": "S1"}},
             instance_info={"root_device": {"serial": "S2"}, "image_source": "http://i/x.raw",
                            "configdrive": {"user_data": "#cloud-config\npassword: pw"},
                            "image_url": "http://swift/temp?sig=abc",
                            "kernel": "http://user:hunter2@images/vmlinuz",
                            "extra": {"admin_password": "hunter3", "tags": ["a"]}},
             driver_internal_info={"agent_secret_token": TOKEN, "deploy_step_index": 1})
    resp = api.get("/v1/lookup?addresses=" + MAC)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    node = resp.get_json()["node"]
    assert node["properties"]["root_device"] == {"serial": "S1"}
    info = node["instance_info"]
    assert info["root_device"] == {"serial": "S2"}
    assert info["image_source"] == "http://i/x.raw"
    assert info["configdrive"] == "******" and info["image_url"] == "******"
    assert info["kernel"] == "http://user:******@images/vmlinuz"
    assert info["extra"] == {"admin_password": "******", "tags": ["a"]}
    assert node["driver_internal_info"] == {"agent_secret_token": "******",
                                            "deploy_step_index": 1}
    text = resp.get_data(as_text=True)
    for secret in (TOKEN, "hunter2", "hunter3", "sig=abc", "cloud-config"):
        assert secret not in text
    # the node keeps its values; only the lookup's view is masked
    assert row("lk7")["instance_info"]["image_url"] == "http://swift/temp?sig=abc"


def test_an_empty_instance_info_is_an_empty_object(api, make_node):
    _waiting(api, make_node, "lk8")
    resp = api.get("/v1/lookup?addresses=" + MAC)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["node"]["instance_info"] == {}


def test_lookup_view_leaves_values_that_name_no_secret():
    values = {"root_device": {"size": ">= 100", "hctl": "0:0:0:0"}, "root_gb": 10,
              "capabilities": {"boot_mode": "uefi"}, "configdrive": ""}
    assert deployments.lookup_view(values, ("configdrive", "image_url")) == values
