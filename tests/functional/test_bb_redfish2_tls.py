"""redfish over HTTPS: each TLS failure names the driver_info field that fixes it.

Against sushy-tools' emulator serving a self-signed certificate issued for
127.0.0.1 (tests/fixtures/redfish_emulator.py): the handshake really fails,
in OpenSSL, for each cause.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from tests.functional import redfish_stub


@pytest.fixture(autouse=True)
def redfish_config(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=1.0,
                                 redfish__connect_timeout=1.0):
        yield config


def _power_error(driver_info):
    task = StandaloneTask.for_driver("redfish", driver_info=driver_info, name="tls")
    with pytest.raises(exception.DriverSettingsError) as info:
        actions.get_power_state(task)
    return str(info.value)


def test_a_ca_file_with_no_certificate_names_redfish_verify_ca(redfish_tls_emulator, tmp_path):
    """Not "check the scheme and port": the address is right, the CA file is not."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                      "-----END CERTIFICATE-----\n")
    message = _power_error(redfish_tls_emulator.driver_info(
        "sys-c", redfish_verify_ca=str(bundle)))
    assert "redfish_verify_ca %s holds no CA certificate" % bundle in message
    assert "set redfish_verify_ca to a PEM CA bundle" in message
    assert "scheme" not in message and "attempts" not in message


def test_a_certificate_for_another_name_names_redfish_address(redfish_tls_emulator):
    """The CA is the right one; only the name differs, so the fix is the address."""
    message = _power_error(redfish_tls_emulator.driver_info(
        "sys-c", redfish_verify_ca=redfish_tls_emulator.ca_bundle,
        redfish_address=redfish_tls_emulator.url.replace("127.0.0.1", "localhost")))
    assert "not issued for the host redfish_address names" in message
    assert "certificate is not valid for 'localhost'" in message
    assert "set redfish_address to a host name or IP address the certificate names" in message
    assert "redfish_verify_ca" not in message
