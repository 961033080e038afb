"""redfish-virtual-media against sushy-tools' emulator: cleaning up needs only the BMC.

Ejecting the virtual CD (tear down, an aborted deploy) talks to the BMC and
nothing else, so it must not depend on the deploy ramdisk fields the
interface needs to *build* the ISO: an operator who unset them on a
deployed node could otherwise not tear it down.
"""

import http.server
import threading

import pytest
import requests

from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask

SYSTEM = "sys-b"  # its CD is used by no other test


@pytest.fixture
def image_url(tmp_path):
    """An http URL the emulator can fetch an ISO from (it downloads on insert)."""
    (tmp_path / "old.iso").write_bytes(b"not really an iso")
    handler = type("Files", (http.server.SimpleHTTPRequestHandler,), {
        "log_message": lambda *a: None,
        "__init__": lambda self, *a, **k: http.server.SimpleHTTPRequestHandler.__init__(
            self, *a, directory=str(tmp_path), **k)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/old.iso" % server.server_address[1]
    server.shutdown()
    server.server_close()


def _cd_url(emulator):
    return "%s/redfish/v1/Systems/%s/VirtualMedia/Cd" % (emulator.url,
                                                          emulator.uuid(SYSTEM))


def test_clean_up_ejects_the_cd_of_a_node_without_deploy_ramdisk_fields(
        redfish_emulator, config, image_url):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           enabled_boot_interfaces=["redfish-virtual-media", "noop"],
           redfish__command_retry_timeout=1.0)
    redfish_session.CACHE.clear()
    auth = (redfish_emulator.username, redfish_emulator.password)
    requests.post(_cd_url(redfish_emulator) + "/Actions/VirtualMedia.InsertMedia", auth=auth,
                  json={"Image": image_url, "Inserted": True}, timeout=10).raise_for_status()
    assert requests.get(_cd_url(redfish_emulator), auth=auth, timeout=10).json()["Inserted"]

    task = StandaloneTask.for_driver("redfish", redfish_emulator.driver_info(SYSTEM),
                                     boot_interface="redfish-virtual-media")
    task.driver.boot.clean_up_instance(task)
    media = requests.get(_cd_url(redfish_emulator), auth=auth, timeout=10).json()
    assert not media.get("Inserted") and not media.get("Image")
    redfish_session.CACHE.clear()
