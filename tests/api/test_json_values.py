"""Bodies and CLI inputs must be standard JSON: no NaN, infinities or lone surrogates.

Python's json module reads them all, and a node that stored one was listed
as ``NaN`` or ``"\\ud800"``: invalid for strict parsers, so one node broke
every client's listing. Each is now a 400 (or a CLI error) naming where
the value is and what to send instead, on both database backends (on
PostgreSQL a NaN used to be a 500). Rows stored before are listed as
valid JSON. The strict parser the listings are checked with is
``hwdrivers.common.json_values.loads`` itself, which refuses exactly those.
"""

import json

import pytest

from hwdrivers.api import app as app_mod
from hwdrivers.common import json_values
from hwdrivers.db import api as db_api
from tests import cli_run
from tests.api.conftest import Client, Service, error_of

FINITE = "send a finite number instead"
TEXT = "send valid UTF-8 text instead"


@pytest.fixture
def any_api(database):
    """The API over each backend (conftest's ``api`` is SQLite's alone)."""
    service = Service()
    yield Client(app_mod.create_app(service).test_client())
    service.manager.workers.shutdown(wait=True, timeout=10)


def _node(fragment):
    return '{"driver": "fake-hardware", "name": "bad", %s}' % fragment


def _strict(resp):
    """The response's JSON, read as strict parsers (jq) read it."""
    return json_values.loads(resp.get_data())


BAD_NODES = [
    (_node('"properties": {"cpus": NaN}'), "properties.cpus is NaN", FINITE),
    (_node('"properties": {"memory_mb": Infinity}'), "properties.memory_mb is Infinity",
     FINITE),
    (_node('"properties": {"local_gb": -Infinity}'), "properties.local_gb is -Infinity",
     FINITE),
    (_node('"properties": {"local_gb": 1e999}'), "properties.local_gb is a number too large",
     FINITE),
    (_node('"extra": {"list": [1, {"x": -1E+999}]}'), "extra.list[1].x is a number too large",
     FINITE),
    (_node('"extra": {"digits": 1%s.5}' % ("0" * 400)), "extra.digits is a number too large",
     FINITE),
    (_node('"extra": {"a": "\\ud800"}'), "extra.a holds a lone UTF-16 surrogate", TEXT),
    (_node('"extra": {"a": "x\\uDC00y"}'), "extra.a holds a lone UTF-16 surrogate", TEXT),
    (_node('"extra": {"a": "\\ud800\\u0041"}'), "extra.a holds a lone UTF-16 surrogate", TEXT),
    (_node('"driver_info": {"\\udfff": "v"}'),
     'driver_info has the key "\\udfff" holding a lone UTF-16 surrogate', TEXT),
    (_node('"extra": {"nested": {"\\ud83dkey": 1}}'),
     'extra.nested has the key "\\ud83dkey" holding', TEXT),
]


@pytest.mark.parametrize("raw, where, fix", BAD_NODES)
def test_non_standard_values_are_400s_naming_where(any_api, raw, where, fix):
    resp = any_api.post("/v1/nodes", raw=raw)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    message = error_of(resp)
    assert message.startswith("Invalid value in the request body: " + where), message
    assert fix in message
    assert db_api.list_nodes() == []
    assert _strict(any_api.get("/v1/nodes/detail")) == {"nodes": []}


def test_surrogate_bytes_are_400s_too(any_api):
    """A surrogate encoded as if UTF-8 (CESU-8) is no more text than its escape."""
    raw = _node('"extra": {"a": "\xed\xa0\x80"}').encode("latin-1")
    resp = any_api.post("/v1/nodes", raw=raw)
    assert resp.status_code == 400
    assert "extra.a holds a lone UTF-16 surrogate" in error_of(resp)
    resp = any_api.post("/v1/nodes", raw=_node('"extra": {"a": "\xff"}').encode("latin-1"))
    assert resp.status_code == 400 and "not valid JSON" in error_of(resp)
    assert db_api.list_nodes() == []


def test_message_never_repeats_the_value(any_api):
    resp = any_api.post("/v1/nodes", raw=_node(
        '"driver_info": {"fake_password": "s3cret\\udc00pw"}'))
    assert resp.status_code == 400
    message = error_of(resp)
    assert "driver_info.fake_password" in message and "s3cret" not in message


def test_standard_json_is_still_accepted(any_api):
    """Escaped pairs, non-ASCII text, the largest floats, a backslash before 'ud800'."""
    extra = {"emoji": "\U0001F600", "text": "caf\u00e9 \ud55c", "big": 1.7976931348623157e308,
             "tiny": -5e-324, "int": 2 ** 70, "backslash": "\\ud800", "e": "1e999"}
    resp = any_api.post("/v1/nodes", raw=json.dumps(
        {"driver": "fake-hardware", "name": "good", "extra": extra}))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert _strict(any_api.get("/v1/nodes/good"))["extra"] == extra
    raw_utf8 = json.dumps({"driver": "fake-hardware", "name": "utf8", "extra": extra},
                          ensure_ascii=False).encode("utf-8")
    assert any_api.post("/v1/nodes", raw=raw_utf8).status_code == 201
    listed = _strict(any_api.get("/v1/nodes/detail"))["nodes"]
    assert [n["extra"] for n in listed] == [extra, extra]


def test_patch_values_are_checked(api, make_node):
    make_node("p1")
    before = db_api.get_node("p1")
    for raw, where in [
            ('[{"op": "add", "path": "/properties/cpus", "value": NaN}]', "[0].value is NaN"),
            ('[{"op": "add", "path": "/extra/a", "value": 1}, '
             '{"op": "add", "path": "/extra/b", "value": ["\\udc00"]}]',
             "[1].value[0] holds a lone"),
            ('[{"op": "add", "path": "/extra/\\ud800", "value": 1}]', "[0].path holds a lone")]:
        resp = api.patch("/v1/nodes/p1", raw=raw)
        assert resp.status_code == 400, resp.get_data(as_text=True)
        assert error_of(resp).startswith("Invalid value in the request body: " + where)
    assert db_api.get_node("p1") == before


def test_power_request_through_the_fast_path(app, api, make_node):
    """PUT .../states/power is parsed by the fast path: the same check applies there."""
    make_node("fp")
    api.get("/v1/nodes/fp/states")  # the fast path answers a Host it has seen
    reached_flask = []
    inner = app.wsgi_app.app
    app.wsgi_app.app = lambda environ, start: reached_flask.append(1) or inner(environ, start)
    resp = api.put("/v1/nodes/fp/states/power", raw='{"target": "power on", "timeout": NaN}')
    assert reached_flask == []
    assert resp.status_code == 400
    assert "timeout is NaN" in error_of(resp) and FINITE in error_of(resp)
    assert db_api.get_node("fp")["target_power_state"] is None


def test_the_whole_body_named_when_it_is_the_value(api):
    resp = api.post("/v1/nodes", raw="NaN")
    assert resp.status_code == 400
    assert "the body itself is NaN" in error_of(resp)


# -- rows stored before the check ---------------------------------------------------

def test_rows_stored_before_are_listed_as_valid_json(api):
    """Old rows keep their values; shown, NaN/infinities are null and surrogates U+FFFD."""
    db_api.create_node({"driver": "fake-hardware", "name": "old",
                        "properties": {"cpus": float("nan"), "local_gb": float("inf")},
                        "extra": {"a": "x\ud800y", "k\udc00": [float("-inf")], "big": 2 ** 70}})
    db_api.create_node({"driver": "fake-hardware", "name": "fine", "extra": {"t": "\u00e9"}})
    for path in ("/v1/nodes/old", "/v1/nodes/detail", "/v1/nodes?fields=name,extra"):
        resp = api.get(path)
        assert resp.status_code == 200
        body = _strict(resp)
        docs = {n["name"]: n for n in body.get("nodes", [body])}
        assert docs["old"]["extra"] == {"a": "x\ufffdy", "k\ufffd": [None], "big": 2 ** 70}
        if "properties" in docs["old"]:
            assert docs["old"]["properties"] == {"cpus": None, "local_gb": None}
        if "fine" in docs:
            assert docs["fine"]["extra"] == {"t": "\u00e9"}
    stored = db_api.get_node("old")
    assert stored["extra"]["a"] == "x\ud800y"  # nothing rewritten


# -- the CLI's inputs (local database) ----------------------------------------------

@pytest.fixture
def run(sqlite_database, tmp_path, capsys):
    conf = tmp_path / "empty.conf"
    conf.write_text("")
    return cli_run.runner(conf, capsys)


@pytest.mark.parametrize("content, where", [
    (b'{"fake_port": NaN}', "fake_port is NaN"),
    (b'{"fake_port": 1e999}', "fake_port is a number too large"),
    (b'{"fake_password": "pw\\ud800"}', "fake_password holds a lone UTF-16 surrogate"),
    (b'{"fake_password": "pw\xed\xb0\x80"}', "fake_password holds a lone UTF-16 surrogate"),
    (b'Infinity', "the file is Infinity"),
])
def test_cli_driver_info_file_is_held_to_the_same_rule(run, tmp_path, content, where):
    path = tmp_path / "bmc.json"
    path.write_bytes(content)
    _, err = run("node", "create", "--driver", "fake-hardware", "--name", "f1",
                 "--driver-info-file", str(path), expect=1)
    assert "--driver-info-file %s: %s" % (path, where) in err
    assert "write " in err and "pw" not in err
    assert db_api.list_nodes() == []


@pytest.mark.parametrize("option, pair, where", [
    # commands.py names the option "--propertie" (rstrip("s")): not this test's subject.
    ("--property", "cpus=4\udcff", " cpus: the value is not valid UTF-8 text"),
    ("--extra", "note=\udce9t\udce9", "--extra note: the value is not valid UTF-8 text"),
    ("--driver-info", "fake_password=hunter2\udcff", "--driver-info fake_password: the value"),
    ("--extra", "k\udcff=v", "a --extra key is not valid UTF-8 text"),
])
def test_cli_arguments_that_are_not_utf8_are_refused(run, option, pair, where):
    """Bytes that are not UTF-8 reach argv as surrogates (surrogateescape)."""
    _, err = run("node", "create", "--driver", "fake-hardware", "--name", "a1",
                 option, pair, expect=1)
    assert where in err and "pass valid UTF-8 text instead" in err
    assert "hunter2" not in err
    assert db_api.list_nodes() == []


def test_cli_valid_inputs_still_work(run, tmp_path):
    path = tmp_path / "bmc.json"
    path.write_text(json.dumps({"fake_username": "adm\u00efn \U0001F600"}))
    out, _ = run("node", "create", "--driver", "fake-hardware", "--name", "ok",
                 "--driver-info-file", str(path), "--property", "cpus=\u2603", "-f", "json")
    created = json.loads(out)
    assert created["driver_info"]["fake_username"] == "adm\u00efn \U0001F600"
    assert created["properties"] == {"cpus": "\u2603"}
