"""What an agent says about a failure is quoted, not carried whole into last_error.

A failed command's ``command_error`` (IPA quotes a tool's stdout and stderr
in its ImageWriteError, a Python error's text in CommandExecutionError) and
the ``faultstring`` of an error answer went whole into the DriverError, so
into the node's last_error, which every node listing and the history carry:
an agent that said 200 kB made a 200 kB last_error. They are cut, saying
how much more there was, as the BIOS and external driver errors already
are (common/log_text.cut); short errors are quoted unchanged. A real HTTP
server plays the agent.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import agent_client
from tests.unit.agent_peer import TOKEN
LONG = "stderr: " + "qemu-img: error while writing sector 42 " * 5000


@pytest.fixture
def agent(agent_peer):
    """``agent(status, answer)``: a client of a peer answering that."""
    return lambda status, answer: agent_peer(answer, status)


def _failed(details):
    return {"id": "c1", "command_name": "sync", "command_status": "FAILED",
            "command_result": None,
            "command_error": {"type": "ImageWriteError", "code": 500,
                              "message": "Error writing image to device",
                              "details": details}}


def test_a_long_command_error_is_cut(agent):
    with pytest.raises(agent_client.AgentCommandFailed) as caught:
        agent(200, _failed(LONG)).run("standby.sync", {})
    text = str(caught.value)
    assert len(text) < 2500, len(text)
    assert "ImageWriteError: stderr: qemu-img: error while writing sector 42" in text
    assert "more characters" in text
    # the text the deploy step quotes (direct.agent_step_done) is cut the same way
    assert len(agent_client.command_error_text(_failed(LONG))) < 2500


def test_a_long_faultstring_is_cut(agent):
    client = agent(400, {"faultcode": "Client", "faultstring": LONG})
    with pytest.raises(exception.DriverActionError) as caught:
        client.start("standby.sync", {})
    text = str(caught.value)
    assert len(text) < 2500, len(text)
    assert "HTTP 400: stderr: qemu-img" in text and "more characters" in text


def test_a_short_error_is_quoted_whole(agent):
    with pytest.raises(agent_client.AgentCommandFailed) as caught:
        agent(200, _failed("disk /dev/sda is read-only")).run("standby.sync", {})
    assert str(caught.value).endswith("ImageWriteError: disk /dev/sda is read-only")


@pytest.mark.parametrize("as_json", [True, False], ids=["faultstring", "text"])
def test_a_token_across_the_cut_shows_none_of_it(agent, as_json):
    """The token is masked before the text is cut: cut first, its first characters
    would have shown (the text body is cut after 500 characters, a faultstring
    after 2000)."""
    limit = agent_client.QUOTED if as_json else 500
    echoed = "x" * (limit - 25) + "?agent_token=" + TOKEN + " was not found"
    client = agent(404, {"faultstring": echoed} if as_json else echoed)
    with pytest.raises(exception.DriverActionError) as caught:
        client.start("standby.sync", {})
    assert TOKEN[:8] not in str(caught.value), str(caught.value)[-200:]
