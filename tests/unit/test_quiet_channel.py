"""The API's waitress connections do not spin while a request writes its output.

waitress's main loop selects a connection for writing whenever it holds
output; while the request's own thread holds the output lock, the loop can
do nothing with it and comes straight back. hwdrivers' channel stays out of
``select`` in that window (hwdrivers.cmd.server.waitress_server).

The same servers report requests that wait for a free thread once a
minute (hwdrivers.cmd.server.SaturationLog), not once per request.
"""

import socket
import threading

from hwdrivers.cmd import server as server_mod


def _app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def _channel():
    server = server_mod.waitress_server(_app, host="127.0.0.1", port=0)
    ours, theirs = socket.socketpair()
    channel = server.channel_class(server, ours, ("127.0.0.1", 1), server.adj, map={})
    return server, channel, theirs


def test_servers_are_built_with_the_quiet_channel():
    server, channel, peer = _channel()
    try:
        assert server.channel_class is server_mod.quiet_channel_class()
        assert isinstance(channel, server_mod.quiet_channel_class())
    finally:
        peer.close()
        channel.close()
        server.close()


def test_not_writable_while_a_running_request_holds_its_output():
    server, channel, peer = _channel()
    try:
        channel.requests = [object()]     # a request is running
        channel.total_outbufs_len = 10    # and has written output
        held, done = threading.Event(), threading.Event()

        def request_thread():
            with channel.outbuf_lock:     # appending and sending, as write_soon does
                held.set()
                done.wait(5)

        thread = threading.Thread(target=request_thread)
        thread.start()
        held.wait(5)
        assert not channel.writable()     # the loop would only spin on it
        done.set()
        thread.join(5)
        assert channel.writable()         # free again: the loop may flush it
        channel.requests = []
        assert channel.writable()         # output left after the request: flushed
        channel.total_outbufs_len = 0
        assert not channel.writable()
    finally:
        channel.requests = []
        peer.close()
        channel.close()
        server.close()


def test_requests_waiting_for_a_thread_are_summarised_not_logged_one_by_one(caplog):
    server = server_mod.waitress_server(_app, host="127.0.0.1", port=0, threads=2,
                                        ident="hwdrivers", threads_option="[api] threads")
    try:
        queue_log = server.task_dispatcher.queue_logger
        assert isinstance(queue_log, server_mod.SaturationLog)
        caplog.set_level("WARNING")
        for depth in (1, 5, 3):           # what waitress calls under load
            queue_log.warning("Task queue depth is %d", depth)
        lines = [r.getMessage() for r in caplog.records]
        assert lines == ["hwdrivers: 1 request(s) queued for one of its 2 threads since "
                         "it started (deepest queue 1); if this persists, raise [api] threads"]
        queue_log._last -= queue_log.interval   # a minute later
        queue_log.warning("Task queue depth is %d", 2)
        assert len(caplog.records) == 2
        summary = caplog.records[1].getMessage()
        assert summary.startswith("hwdrivers: 3 request(s) queued for one of its 2 threads in "
                                  "the 60 s since the last report (deepest queue 5)")
    finally:
        server.close()


def test_a_saturated_server_logs_one_line_not_one_per_request(caplog):
    """Real waitress, one thread, a slow app and 8 clients: one warning line."""
    import http.client
    import time

    def slow(environ, start_response):
        time.sleep(0.05)
        return _app(environ, start_response)

    caplog.set_level("WARNING")
    server = server_mod.waitress_server(slow, host="127.0.0.1", port=0, threads=1,
                                        threads_option="[api] threads")
    runner = threading.Thread(target=server.run, daemon=True)
    runner.start()
    statuses = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=30)
        for _ in range(2):
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()

    clients = [threading.Thread(target=client) for _ in range(8)]
    try:
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(30)
    finally:
        server.close()
        runner.join(5)
    assert statuses == [200] * 16
    queued = [r.getMessage() for r in caplog.records if "queued" in r.getMessage()
              or "queue depth" in r.getMessage()]
    assert len(queued) == 1, queued
    assert "raise [api] threads" in queued[0]
