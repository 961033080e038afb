"""The conductor's API answering something that is not HTTP, for a while.

A proxy mid-restart, a load balancer's health page on the wrong port, a
server cut off mid-status-line: http.client raises BadStatusLine or
IncompleteRead, which are not OSErrors. The agent must treat them as the
connection errors they are: retry the lookup, keep heartbeating. (The
inspection post learnt the same in 62dd943.)
"""

from tests.waits import wait_for


def test_a_garbled_lookup_answer_is_retried(start_agent, conductor):
    conductor.garble["/v1/lookup"] = 2
    agent = start_agent()  # ready: it heartbeats
    assert conductor.garbled == ["/v1/lookup", "/v1/lookup"]
    assert len(conductor.lookups) == 1
    assert agent.proc.poll() is None


def test_heartbeats_go_on_after_a_garbled_answer(start_agent, conductor):
    conductor.garble["/v1/heartbeat/"] = 1
    agent = start_agent(ready=False)
    wait_for(lambda: conductor.heartbeats_of(agent.node), timeout=30,
             message="a heartbeat after the garbled answer")
    assert len(conductor.garbled) == 1
    assert "heartbeat failed" in agent.log()
    assert agent.proc.poll() is None
