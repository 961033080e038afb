"""A heartbeat may not move the agent's callback URL in the middle of a deploy.

Ironic refuses a heartbeat whose ``callback_url`` differs from the one on
file ("Detected change in ramdisk provided callback_url"): the agent keeps
its URL until the node boots into the ramdisk again. Ours recorded any
URL a token holder sent, and the next command, with the image URL and the
config drive's user data, went to that host.
"""

import pytest

from hwdrivers.db import api as db_api
from tests.api.conftest import row

MAC = "52:54:00:7a:09:01"
TOKEN = "agent-token-of-the-deploy-0123456789abcdef"
FIRST = "http://10.0.0.5:9999"


def _waiting(api, make_node, name):
    """A node in wait call-back whose agent called back from FIRST (paused: maintenance)."""
    node = make_node(name)
    db_api.update_node(row(name)["id"], {
        "provision_state": "wait call-back", "maintenance": True,
        "driver_internal_info": {"agent_secret_token": TOKEN, "agent_url": FIRST}})
    return node


def _beat(api, name, url, token=TOKEN):
    return api.post("/v1/heartbeat/%s" % name, {"callback_url": url, "agent_token": token},
                    headers={"X-OpenStack-Ironic-API-Version": "1.68"})


def test_another_callback_url_is_refused_and_the_first_kept(api, make_node):
    _waiting(api, make_node, "cb9")
    resp = _beat(api, "cb9", "http://user:s3cret@10.6.6.6:9999")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    text = resp.get_data(as_text=True)
    assert "callback_url differs" in text and "s3cret" not in text
    assert row("cb9")["driver_internal_info"]["agent_url"] == FIRST


def test_the_same_url_beats_on(api, make_node):
    _waiting(api, make_node, "cb10")
    assert _beat(api, "cb10", FIRST).status_code == 202
    assert row("cb10")["driver_internal_info"]["agent_last_heartbeat"]


def test_without_the_token_it_is_still_a_401(api, make_node):
    _waiting(api, make_node, "cb11")
    assert _beat(api, "cb11", "http://10.6.6.6:9999", token="wrong" * 8).status_code == 401


@pytest.mark.parametrize("url, says", [
    ("http://10.0.0.5:9999\n", "control characters"),
    ("http://10.0.0.5 :9999", "control characters"),
    ("http://10.0.0.5:99999", "not a valid URL"),
    ("http://:9999", "has no host"),
    ("ftp://10.0.0.5", "http(s) URL"),
])
def test_a_callback_url_the_agent_client_could_not_use_is_a_400(api, make_node, url, says):
    """Stored as given, a trailing newline or a bad port made every later
    command to the agent fail with a bare ValueError naming neither."""
    make_node("cb12")
    db_api.update_node(row("cb12")["id"], {
        "provision_state": "wait call-back", "maintenance": True,
        "driver_internal_info": {"agent_secret_token": TOKEN}})
    resp = _beat(api, "cb12", url)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    text = resp.get_data(as_text=True)
    assert "callback_url" in text and says in text
    assert "agent_url" not in row("cb12")["driver_internal_info"]
