"""A BMC with a short password: the console's output is not mangled, the password is cut.

The relay cut every occurrence of the BMC password out of what the machine
printed. With a two-letter password ("ab") every "about", "lab" and
"table" reached the client and the log as "******out", "l******",
"t******le": the console was unreadable (and the gaps spelled out the
password). A short secret is now cut only where it stands as a word of its
own; a long one wherever it appears.
"""

import pytest

from tests.fixtures import ipmi_sim as sim_fixture
from tests.functional import console_env as env
from tests.waits import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def short_sim(tmp_path):
    sim_fixture.require_ipmi_sim()
    sim = sim_fixture.IPMISim(str(tmp_path / "sim"), password="ab").start()
    yield sim
    sim.stop()


@pytest.fixture
def server(tmp_path):
    proc = env.console_server(tmp_path, idle_timeout=600).start()
    yield proc
    proc.stop()


def _log(server, node):
    status, body = server.call("GET", "/v1/nodes/%s/states/console/log?kib=64" % node)
    assert status == 200, body
    return body["log"]


def test_output_with_the_password_inside_words_is_intact(server, short_sim):
    node = env.create_ipmi_node(server, "short-pw", short_sim.driver_info())
    env.enable(server, node)
    doc = env.wait_state(server, node, ("on", "failed"))
    assert doc["console_state"] == "on", doc
    client = env.Client(env.address(doc))
    try:
        short_sim.serial.write(b"about the lab table\r\n")
        client.read_until(b"about the lab table\r\n")
        # The password as a word of its own is still cut.
        short_sim.serial.write(b"bmc password: ab\r\ndone\r\n")
        seen = client.read_until(b"done\r\n")
    finally:
        client.close()
    assert b"bmc password: ******\r\n" in seen, seen
    wait_for(lambda: "done" in _log(server, node), 30, message="output in the log")
    log = _log(server, node)
    assert "about the lab table\r\n" in log, log
    assert "bmc password: ******\r\n" in log and ": ab" not in log, log
