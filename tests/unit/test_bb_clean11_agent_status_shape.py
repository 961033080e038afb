"""An agent answer without a command status is an error saying so, not "None failed: None".

The conductor reads ``command_status`` (RUNNING, SUCCEEDED, FAILED) from
every answer of the agent's command API to know whether a step goes on.
A peer at the agent's URL that answers 200 with some other JSON (another
service on the port, a proxy's health page, an agent of another protocol)
was taken for a finished, failed command: the deploy failed with
"agent command None failed: None", naming neither the agent's URL nor what
was wrong. Such an answer is now a DriverActionError saying which call got
what, and asking whether an IPA-compatible agent listens there. A real
HTTP server plays the peer.
"""

import pytest

from hwdrivers.common import exception
from tests.unit.agent_peer import TOKEN


@pytest.fixture
def serve(agent_peer):
    """``serve(answer)``: a client of a peer answering that."""
    return agent_peer


BAD = [{}, {"status": "ok"}, {"id": "c1", "command_status": "DONE"},
       {"id": "c1", "command_status": None}, {"id": "c1", "command_status": ["RUNNING"]}]


@pytest.mark.parametrize("answer", BAD, ids=["empty", "other", "unknown", "null", "list"])
@pytest.mark.parametrize("call", ["start", "status", "run"])
def test_an_answer_without_a_command_status_is_an_error_naming_it(serve, answer, call):
    client = serve(answer)
    with pytest.raises(exception.DriverActionError) as caught:
        if call == "start":
            client.start("standby.prepare_image", {})
        elif call == "status":
            client.status("c1", "prepare_image")
        else:
            client.run("standby.sync", {})
    text = str(caught.value)
    assert "command_status" in text and "RUNNING, SUCCEEDED or FAILED" in text, text
    assert "prepare_image" in text or "standby.sync" in text, text
    assert "ironic-python-agent" in text, text
    assert TOKEN not in text


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED", "FAILED"])
def test_the_three_statuses_are_taken(serve, status):
    answer = {"id": "c1", "command_name": "prepare_image", "command_status": status,
              "command_error": None, "command_result": None}
    assert serve(answer).status("c1", "prepare_image")["command_status"] == status
    assert serve(answer).start("standby.prepare_image", {})["command_status"] == status
