"""Ironic's own clients drive the cleaning switches against a real hwdrivers-server.

``baremetal node set --no-automated-clean`` / ``unset --automated-clean``
and openstacksdk's ``is_automated_clean_enabled`` were refused (the field
was shown null and could not be set), and ``[conductor] automated_clean``
did not exist. Here the server runs with the option off: a node following
it (null) skips cleaning, one set to ``--automated-clean`` cleans.
"""

import json

import pytest

from tests.functional import server_proc
from tests.functional.ironic_clients import baremetal
from tests.functional.ironic_clients import sdk

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    with server_proc.running(tmp_path, name="c6clients",
                             options={"conductor": {"automated_clean": "false"}}) as proc:
        proc.home = tmp_path / "home"
        yield proc


def _show(server, name):
    return json.loads(baremetal(server, "node", "show", name, "-f", "json").stdout)


def test_baremetal_sets_and_unsets_automated_clean(server):
    baremetal(server, "node", "create", "--driver", "fake-hardware", "--name", "ac1")
    assert _show(server, "ac1")["automated_clean"] is None
    baremetal(server, "node", "set", "ac1", "--automated-clean")
    assert _show(server, "ac1")["automated_clean"] is True
    assert sdk(server).baremetal.get_node("ac1").is_automated_clean_enabled is True

    baremetal(server, "node", "manage", "ac1", "--wait", "60")
    log_before = len(server.log())
    baremetal(server, "node", "provide", "ac1", "--wait", "60")
    assert _show(server, "ac1")["provision_state"] == "available"
    assert "clean step deploy.erase_devices" in server.log()[log_before:]  # it cleaned

    baremetal(server, "node", "manage", "ac1", "--wait", "60")
    baremetal(server, "node", "unset", "ac1", "--automated-clean")
    assert _show(server, "ac1")["automated_clean"] is None
    log_before = len(server.log())
    baremetal(server, "node", "provide", "ac1", "--wait", "60")
    assert _show(server, "ac1")["provision_state"] == "available"
    log = server.log()[log_before:]
    assert "automated cleaning skipped ([conductor] automated_clean = False)" in log, log
    assert "clean step deploy.erase_devices" not in log
