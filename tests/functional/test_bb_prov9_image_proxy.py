"""Ironic's ``image_http_proxy`` / ``image_https_proxy`` / ``image_no_proxy`` driver_info.

The agent takes image_info ``proxies`` and ``no_proxy`` as IPA does, but
our conductor never sent them, and refused the three driver_info fields
Ironic documents for the direct deploy as unknown: a machine whose image
server is reached only through a proxy could not be deployed. Here the
image server plays the proxy for a host no resolver knows.
"""

import json

import pytest

from tests.functional import deploy_env

MiB = 1024 * 1024
#: a host no resolver knows (RFC 6761): reachable only through the proxy
FAR_AWAY = "http://images.example.invalid"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with deploy_env.running(tmp_path_factory.mktemp("bb-prov9-proxy")) as environment:
        yield environment


def test_a_deploy_downloads_through_the_nodes_proxy(env):
    _, digest, _ = env.add_image("px.img", size=4 * MiB)
    proxy = env.images.url.replace("http://", "http://squid:S3CRET@")
    env.add_machine("px1", driver_info={"image_http_proxy": proxy,
                                        "image_no_proxy": ".internal.example,10.0.0.5"},
                    instance_info={"image_source": FAR_AWAY + "/px.img",
                                   "image_os_hash_algo": "sha256",
                                   "image_os_hash_value": digest})
    env.make_available("px1")
    env.deploy("px1")
    env.wait_state("px1", "active", timeout=120)
    assert env.images.count("px.img") == 1  # fetched by the agent, through the proxy
    node = env.node("px1")
    assert node["driver_info"]["image_http_proxy"] == "******"
    assert "S3CRET" not in env.agent_log("px1") and "S3CRET" not in env.server.log()


@pytest.mark.parametrize("field,value,words", [
    ("image_http_proxy", "squid:S3CRET@proxy.example:3128", "add the http://"),
    ("image_https_proxy", "ftp://proxy.example", "http(s) URL with a host"),
    ("image_no_proxy", "a.example b.example", "comma-separated"),
])
def test_a_proxy_setting_the_agent_would_refuse_is_refused_naming_it(env, field, value,
                                                                     words):
    status, body = env.call("POST", "/v1/nodes", {
        "name": "pxbad-%s" % field, "driver": "sim", "deploy_interface": "direct",
        "boot_interface": "ipxe", "driver_info": {"sim_path": "/nonexistent", field: value}})
    assert status == 400, body
    fault = json.loads(body["error_message"])["faultstring"]
    assert field in fault and words in fault, fault
    assert "S3CRET" not in fault
