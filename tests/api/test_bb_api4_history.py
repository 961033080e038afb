"""Node history as an auditor reads it: a summary listing cuts long event text
as Ironic does; detail and the single event keep all of it."""

from hwdrivers.db import history as db_history
from tests.api.conftest import row


def test_summary_cuts_long_events_detail_keeps_them(api, make_node):
    """An event may hold a tool's whole output (up to 1 MiB); the summary
    listing sent every byte of every event. Ironic cuts it to 255
    characters (251 and "...") unless ``detail=true``."""
    node = make_node("bb4-hist")
    long_text = "E" * 300 + "tail"
    exact = "x" * 255
    db_history.record(row("bb4-hist")["id"], long_text)
    db_history.record(row("bb4-hist")["id"], exact)
    summary = api.get("/v1/nodes/bb4-hist/history").get_json()["history"]
    assert [e["event"] for e in summary] == ["E" * 251 + "...", exact]
    detail = api.get("/v1/nodes/bb4-hist/history?detail=true").get_json()["history"]
    assert [e["event"] for e in detail] == [long_text, exact]
    one = api.get("/v1/nodes/%s/history/%s" % (node["uuid"], summary[0]["uuid"]))
    assert one.get_json()["event"] == long_text
