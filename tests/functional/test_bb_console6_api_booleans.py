"""``PUT .../states/console`` takes Ironic's boolean strings for ``enabled``.

Ironic validates ``enabled`` with ``args.boolean`` (oslo's strict
``bool_from_string``): ``{"enabled": "true"}`` or ``"off"`` from a script
or an older client works there, and was a 400 here.
"""

import pytest

from tests.functional import console_env as env
from tests.functional import server_proc


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = server_proc.ServerProcess(tmp_path_factory.mktemp("api-bool")).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("on,off", [("true", "false"), ("On", "off"), ("1", "0"),
                                    ("yes", "no")], ids=["true", "On", "1", "yes"])
def test_boolean_strings_enable_and_disable(server, on, off):
    name = "fake-console-%s" % on.lower()
    status, body = server.call("POST", "/v1/nodes", {
        "name": name, "driver": "fake-hardware", "console_interface": "fake"})
    assert status == 201, body
    status, body = server.call("PUT", "/v1/nodes/%s/states/console" % name,
                               {"enabled": on})
    assert status == 202, body
    assert env.wait_state(server, name, ("on",))["console_enabled"] is True
    status, body = server.call("PUT", "/v1/nodes/%s/states/console" % name,
                               {"enabled": off})
    assert status == 202, body
    assert env.wait_state(server, name, ("off",))["console_enabled"] is False


@pytest.mark.parametrize("value", ["maybe", 1, None], ids=["maybe", "one", "null"])
def test_other_values_are_a_400_naming_the_field(server, value):
    status, body = server.call("POST", "/v1/nodes", {
        "name": "fake-bad-%s" % value, "driver": "fake-hardware",
        "console_interface": "fake"})
    assert status == 201, body
    status, body = server.call("PUT", "/v1/nodes/fake-bad-%s/states/console" % value,
                               {"enabled": value})
    assert status == 400, body
    assert "Field enabled must be true or false" in body["error_message"], body
