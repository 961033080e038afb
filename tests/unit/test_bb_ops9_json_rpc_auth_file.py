"""The conductor's JSON-RPC listener names its own options when its user file is wrong.

It reuses the API's HTTP Basic middleware, which named ``[api]
http_basic_auth_user_file`` in every message: a conductor whose
``[json_rpc] http_basic_auth_user_file`` was missing or held an MD5 hash
sent the operator to edit an option the conductor does not even read.
"""

import base64

import bcrypt
import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.cmd import conductor as conductor_cmd
from hwdrivers.common import exception


class _Service:
    manager = object()
    hostname = "c1"

    def check_can_act(self, method=None, params=None):
        pass


@pytest.mark.parametrize("content", [None, "hwdrivers-api:$apr1$abcdefgh$0123456789abcdefghijkl\n"],
                         ids=["missing", "md5"])
def test_a_bad_json_rpc_user_file_names_the_json_rpc_option(config, tmp_path, content):
    users = tmp_path / "htpasswd-json-rpc"
    if content is not None:
        users.write_text(content)
    config(json_rpc__auth_strategy="http_basic", json_rpc__port=0,
           json_rpc__http_basic_auth_user_file=str(users))
    with pytest.raises(exception.ConfigInvalid) as caught:
        conductor_cmd.rpc_server(_Service(), hw_conf.CONF)
    message = str(caught.value)
    assert message.startswith("[json_rpc] http_basic_auth_user_file: "), message
    assert "[api]" not in message


def test_a_json_rpc_401_names_the_json_rpc_strategy(tmp_path):
    from hwdrivers.api import auth

    users = tmp_path / "htpasswd-json-rpc"
    users.write_text("hwdrivers-api:%s\n" % bcrypt.hashpw(
        b"Rpc-Pass-1", bcrypt.gensalt(rounds=4)).decode())
    app = auth.BasicAuthMiddleware(lambda environ, start: [b"{}"], str(users),
                                   user_file_option="[json_rpc] http_basic_auth_user_file",
                                   strategy_option="[json_rpc] auth_strategy")
    statuses = []
    body = b"".join(app({"REQUEST_METHOD": "POST", "PATH_INFO": "/"},
                        lambda status, headers: statuses.append(status)))
    assert statuses == ["401 Unauthorized"]
    assert b"[json_rpc] auth_strategy is http_basic" in body
    assert b"[api]" not in body


def test_a_failed_json_rpc_login_is_logged_as_json_rpc(config, tmp_path, caplog,
                                                       monkeypatch):
    """The conductor logged "API authentication failed" for an API process
    sending a wrong [json_rpc] password: the operator looked at [api]."""
    users = tmp_path / "htpasswd-json-rpc"
    users.write_text("hwdrivers-api:%s\n" % bcrypt.hashpw(
        b"Rpc-Pass-1", bcrypt.gensalt(rounds=4)).decode())
    config(json_rpc__auth_strategy="http_basic", json_rpc__port=0,
           json_rpc__http_basic_auth_user_file=str(users))
    from hwdrivers.cmd import server as server_mod
    monkeypatch.setattr(server_mod, "_listen", lambda option, create, app, **kw: app)
    app = conductor_cmd.rpc_server(_Service(), hw_conf.CONF)  # the WSGI app, unbound
    app({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "REMOTE_ADDR": "192.0.2.7",
         "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"hwdrivers-api:old").decode()},
        lambda status, headers: None)
    assert "JSON-RPC authentication failed for user 'hwdrivers-api' from 192.0.2.7" in (
        caplog.text)
    assert "API authentication" not in caplog.text
