"""Node history newest first, as Ironic's ``sort_key``/``sort_dir`` give it.

An operator asks a node what happened last: Ironic's ``GET /v1/nodes/<node>/
history?sort_dir=desc&limit=5`` (sort_key ``created_at`` by default, any
event field allowed). hwdrivers answered 400 "Unknown query parameter(s)
sort_dir": the only way to the newest events was to page through all of them.
"""

import pytest

from hwdrivers.db import history as db_history
from tests.api.conftest import error_of, row


@pytest.fixture
def events(api, make_node):
    """Five events of node ``h9``, oldest first: (uuid, text)."""
    make_node("h9")
    node_id = row("h9")["id"]
    severities = ["INFO", "ERROR", "INFO", "WARNING", "INFO"]
    return [(db_history.record(node_id, "event %d" % n, severity=severity), "event %d" % n)
            for n, severity in enumerate(severities)]


def _texts(api, query):
    resp = api.get("/v1/nodes/h9/history?%s" % query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    return [e["event"] for e in body["history"]], body.get("next")


def test_newest_first_pages_with_markers(api, events):
    texts, next_url = _texts(api, "sort_dir=desc&limit=2")
    assert texts == ["event 4", "event 3"]
    assert "sort_dir=desc" in next_url and "marker=%s" % events[3][0] in next_url
    texts, _next = _texts(api, next_url.split("?", 1)[1])
    assert texts == ["event 2", "event 1"]
    assert _texts(api, "sort_dir=asc")[0] == ["event %d" % n for n in range(5)]


def test_sort_by_another_event_field(api, events):
    texts, _next = _texts(api, "sort_key=severity&sort_dir=asc")
    assert texts == ["event 1", "event 0", "event 2", "event 4", "event 3"]


@pytest.mark.parametrize("query, words", [
    ("sort_dir=down", ["sort_dir", "asc, desc"]),
    ("sort_key=password", ["sort_key", "created_at", "severity"]),
])
def test_bad_sort_arguments_name_what_is_allowed(api, events, query, words):
    resp = api.get("/v1/nodes/h9/history?%s" % query)
    assert resp.status_code == 400
    message = error_of(resp)
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("query", ["limit=2", "sort_dir=desc&limit=2"])
def test_a_marker_pruned_between_pages_says_so_and_the_way_on(api, events, query):
    """The node recorded past its bound between two pages: the marker's event
    is gone, and the 400 said only that it was 'not an event of node h9'."""
    marker = events[1][0]
    node_id = row("h9")["id"]
    for n in range(3):
        db_history.record(node_id, "later %d" % n, max_entries=5)
    resp = api.get("/v1/nodes/h9/history?%s&marker=%s" % (query, marker))
    assert resp.status_code == 400
    message = error_of(resp)
    for words in ("marker %s" % marker, "node_history_max_entries", "without marker"):
        assert words in message, message
