"""``hwdrivers node console enable``: a console that failed to start says why, once."""

import argparse

import pytest

from hwdrivers.cli import console
from hwdrivers.common import exception


class FailedConsoleAPI:
    """The API's answers for a console whose command ended at once (an error path)."""

    def __init__(self, console_error):
        self.console_error = console_error

    def request(self, method, path, body=None, expect=None):
        if method == "PUT":
            return None
        return {"console_enabled": True, "console_state": "failed",
                "console_error": self.console_error, "console_info": None}


@pytest.mark.parametrize("console_error, said", [
    ("Node c2: the console did not start: sh ended before it was ready (exit 3)",
     "Node c2: the console did not start: sh ended before it was ready (exit 3)"),
    (None, "node c2: the console did not start (no reason recorded)"),
])
def test_a_failed_console_is_said_once(console_error, said):
    args = argparse.Namespace(node="c2", wait_timeout=5)
    with pytest.raises(exception.HWDriversError) as caught:
        console.console_enable(args, FailedConsoleAPI(console_error))
    assert str(caught.value) == said
