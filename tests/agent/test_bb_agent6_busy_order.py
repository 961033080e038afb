"""While a command runs, any well-formed command is 409, as IPA answers.

IPA checks the name's form (400), then whether the agent is busy (409),
and only then which extension and command the name is (404, 400). The
agent looked the name up first, so a busy agent answered an unknown
extension with 404 and an unknown command with 400, where a conductor
written against IPA expects "Agent is busy".
"""

import os

from tests.agent.helpers import MiB, image_info


def test_a_busy_agent_answers_409_before_looking_the_name_up(start_agent, image_server):
    data = os.urandom(MiB)
    url = image_server.add("slow.raw", data=data, delay=0.5)  # 16 pieces: about 8 s
    agent = start_agent()
    status, first = agent.command("standby.prepare_image",
                                  {"image_info": image_info(url, data)}, wait=False)
    assert status == 200 and first["command_status"] == "RUNNING"
    for name in ("nosuch.command", "standby.nosuch"):
        status, doc = agent.command(name, {}, wait=False)
        assert status == 409, (name, doc)
        assert doc["faultstring"] == "Agent is busy: executing command prepare_image"
    status, doc = agent.command("standby", {}, wait=False)  # not of the form: 400 first
    assert status == 400, doc
