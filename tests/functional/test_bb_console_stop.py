"""A console being enabled when the server stops is not silently dropped.

Consoles already up stay enabled in the database and come back at the next
start; one whose enable (answered 202) was still starting when the server
stopped was never recorded as enabled, so it came back ``off`` with no
reason, as if nobody had asked. It must say what happened instead.
"""

import time

from tests.functional import console_env as env
from tests.functional import server_proc


def test_enable_cut_short_by_a_stop_says_so(tmp_path):
    # A BMC nobody answers for: the session keeps "starting" for start_timeout.
    options = {"console": {"port_range": env.free_port_range(2), "start_timeout": 30}}
    server = server_proc.ServerProcess(tmp_path, options=options).start()
    try:
        node = env.create_ipmi_node(server, "gone-bmc", {
            "ipmi_address": "127.0.0.1", "ipmi_port": server_proc.free_tcp_port(),
            "ipmi_username": "admin", "ipmi_password": "secret-pw-1"})
        env.enable(server, node)
        time.sleep(1.5)
        assert env.console_doc(server, node)["console_state"] == "starting"
    finally:
        server.stop()
    server = server_proc.ServerProcess(tmp_path, options=options).start()
    try:
        doc = env.console_doc(server, node)
        assert doc["console_enabled"] is False, doc
        assert doc["console_state"] == "failed", doc
        assert "stopped" in doc["console_error"] and "enable" in doc["console_error"], doc
        assert "secret-pw-1" not in server.log()
    finally:
        server.stop()
