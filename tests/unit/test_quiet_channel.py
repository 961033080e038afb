"""The API's waitress connections do not spin while a request writes its output.

waitress's main loop selects a connection for writing whenever it holds
output; while the request's own thread holds the output lock, the loop can
do nothing with it and comes straight back. hwdrivers' channel stays out of
``select`` in that window (hwdrivers.cmd.server.waitress_server).
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
