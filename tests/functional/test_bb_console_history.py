"""A console failure is in the node's history, not only in console_error.

console_error keeps the latest reason only, and was written without a
history event: a console that failed at night and was enabled again in the
morning left no trace of why. Ironic's console failures reach the history
through last_error; here each one is an ERROR event of type console.
"""


from tests.functional import console_env as env

PASSWORD = "not-the-password-9"


def test_console_failures_are_in_the_node_history(tmp_path, sim):
    server = env.console_server(tmp_path, ports=2).start()
    try:
        node = env.create_ipmi_node(server, "hist1", sim.driver_info(ipmi_password=PASSWORD))
        for _ in range(2):
            env.enable(server, node)
            doc = env.wait_state(server, node, ("on", "failed"))
            assert doc["console_state"] == "failed", doc
        status, body = server.call("GET", "/v1/nodes/%s/history?detail=true" % node,
                                   headers={"X-OpenStack-Ironic-API-Version": "1.78"})
        assert status == 200, body
        events = [e for e in body["history"] if e["event_type"] == "console"]
        assert len(events) == 2, body
        for event in events:
            assert event["severity"] == "ERROR"
            assert "BMC 127.0.0.1:%d" % sim.port in event["event"], event
            assert "ipmi_password" in event["event"], event
            assert PASSWORD not in event["event"]
    finally:
        server.stop()
