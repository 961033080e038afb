"""An agent's inspection data has a body limit of its own.

ironic-python-agent's extra-hardware and logs collectors make inspection
data of several megabytes on a large server; under the 1 MiB
``[api] max_request_body_size`` the post was a 413 and the node's
inspection just timed out. ``[api] max_inspection_body_size`` bounds that
one route; every other keeps the general limit.
"""

import json

from hwdrivers.api import app as app_mod
from tests.api import conftest
from tests.api.conftest import error_of


def _client(config):
    config(api__max_request_body_size=1024, api__max_inspection_body_size=16384)
    return conftest.Client(app_mod.create_app(conftest.Service(1)).test_client())


def _inspection(size):
    padding = "x" * size
    return {"inventory": {"interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:bb:01"}],
                          "extra": padding}}


def test_inspection_data_over_the_general_limit_is_read(api, config):
    client = _client(config)
    resp = client.post("/v1/continue_inspection", _inspection(8000))
    # read and looked up: no node waits for this MAC (not a 413)
    assert resp.status_code == 404, resp.get_data(as_text=True)


def test_inspection_data_over_its_own_limit_is_413_naming_the_option(api, config):
    client = _client(config)
    resp = client.post("/v1/continue_inspection", _inspection(20000))
    assert resp.status_code == 413
    message = error_of(resp)
    assert "[api] max_inspection_body_size" in message and "16384" in message


def test_other_routes_keep_the_general_limit(api, config):
    client = _client(config)
    body = {"driver": "fake-hardware", "name": "big", "extra": {"blob": "x" * 4096}}
    resp = client.post("/v1/nodes", body)
    assert resp.status_code == 413
    assert "[api] max_request_body_size" in error_of(resp)
    assert len(json.dumps(body)) < 16384  # the inspection limit would have taken it
