"""The access log: one line per request that a client cannot forge.

The path is the client's, percent-decoded by the server: an encoded
newline or NUL written raw would start a line of its own that looks like
the service's, or turn the log into a binary file for ``grep``.
"""

import logging

import pytest

from hwdrivers.common import log_text

FORGED = "2026-12-02 06:00:00,000 WARNING hwdrivers.api.app: forged line"


def _access_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "hwdrivers.api.app"]


@pytest.mark.parametrize("path", [
    "/v1/nodes/x%0A" + FORGED.replace(" ", "%20"),        # through Flask
    "/v1/nodes/x%0A" + FORGED.replace(" ", "%20") + "/states",  # the fast path
    "/v1/nodes/x%0D%0Ay%00z%1B[2J",
], ids=["flask", "fast path", "CR NUL ESC"])
def test_a_path_cannot_forge_a_log_line(api, caplog, path):
    with caplog.at_level(logging.INFO, logger="hwdrivers.api.app"):
        resp = api.get(path)
    assert resp.status_code == 404
    [line] = _access_lines(caplog)
    assert line.isprintable(), line
    assert "\\n" in line or "\\r" in line
    assert line.startswith("GET /v1/nodes/x\\") and line.endswith("]")


def test_printable_text_in_any_script_is_logged_as_it_is(api, caplog):
    with caplog.at_level(logging.INFO, logger="hwdrivers.api.app"):
        api.get("/v1/nodes/n%C5%93ud-%E8%8A%82%E7%82%B9")
    [line] = _access_lines(caplog)
    assert line.startswith("GET /v1/nodes/nœud-节点 -> 404")


@pytest.mark.parametrize("text, logged", [
    ("plain/path", "plain/path"),
    ("a\nb", "a\\nb"),
    ("a\x00b\x1b", "a\\x00b\\x1b"),
    ("tab\there", "tab\\there"),
    ("line\u2028sep", "line\\u2028sep"),
    ("café", "café"),
])
def test_printable_escapes_only_what_is_not(text, logged):
    assert log_text.printable(text) == logged
