"""The agent's HTTP API against callers that frame their requests badly or lack the token.

A real ``hwdrivers-agent`` process, spoken to over raw sockets: what a
client library would never send, but a stray scanner or a broken proxy on
the provisioning network will.
"""

import json
import socket

import pytest

pytestmark = pytest.mark.usefixtures("conductor")


def _exchange(agent, request: bytes, timeout: float = 5.0) -> bytes:
    """Send ``request``; everything the agent answers until it closes (or ``timeout``)."""
    host, port = agent.url.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            answer += b"<timed out>"
    return answer


def _fault(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body.split(b"\n", 1)[0])


def test_a_caller_without_the_token_is_refused_before_its_body_is_read(start_agent):
    # Before: the agent read the whole announced body (up to 192 MiB, into
    # RAM on a ramdisk) and only then checked the token; here it waited for
    # 150 MiB that never came.
    agent = start_agent()
    answer = _exchange(agent, b"POST /v1/commands/?agent_token=wrong HTTP/1.1\r\nHost: a\r\n"
                              b"Content-Length: %d\r\n\r\n{" % (150 * 1024 * 1024))
    assert b"<timed out>" not in answer, answer
    assert _fault(answer) == (401, {"faultcode": "Client",
                                    "faultstring": "401 Unauthorized: Token invalid."})
    assert agent.request("GET", "/v1/commands/") == (200, {"commands": []})


@pytest.mark.parametrize("header, status, words", [
    (b"Content-Length: abc", 400, "Content-Length 'abc' is not a number of bytes"),
    (b"Content-Length: -1", 400, "Content-Length '-1' is not a number of bytes"),
    (b"Transfer-Encoding: chunked", 411, "send the body with a Content-Length"),
])
def test_a_body_framed_other_than_by_content_length_is_refused(start_agent, header, status,
                                                               words):
    # Before: "abc" dropped the connection with no answer (a traceback in the
    # log), "-1" waited for the client to hang up, and a chunked body was
    # answered 400 and its chunks then parsed as a second request.
    agent = start_agent()
    body = b'{"name": "standby.sync", "params": {}}'
    if header.startswith(b"Transfer"):
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    answer = _exchange(agent, b"POST /v1/commands/?agent_token=%s HTTP/1.1\r\nHost: a\r\n"
                              b"%s\r\n\r\n%s" % (agent.token.encode(), header, body))
    assert b"<timed out>" not in answer, answer
    code, fault = _fault(answer)
    assert code == status and words in fault["faultstring"], fault
    assert answer.count(b"HTTP/1.1 ") == 1, answer  # the connection closed after it
    assert agent.request("GET", "/v1/commands/") == (200, {"commands": []})
    assert agent.proc.poll() is None
