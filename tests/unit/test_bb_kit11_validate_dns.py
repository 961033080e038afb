"""The kit's "validate never touches the hardware" check sees a name lookup too.

It watched only socket connects and sends, so a validate that resolved the
BMC's host name (socket.getaddrinfo, gethostbyname: a DNS query leaves the
host, and an API request waits on it when DNS is slow or down) passed. A
lookup of an IP literal asks no one and still passes.
"""

import socket

import pytest

from hwdrivers.drivers.modules import fake
from hwdrivers.testing import conformance

INFO = {"fake_address": "bmc1.example.invalid", "fake_password": "Fake-Pa55"}


@pytest.mark.parametrize("lookup", [
    lambda host: socket.getaddrinfo(host, 623),
    lambda host: socket.gethostbyname(host),
    lambda host: socket.gethostbyname_ex(host),
])
def test_a_validate_resolving_a_host_name_fails(monkeypatch, lookup):
    def validate(self, task):  # "does the BMC's name resolve?", asked of DNS
        try:
            lookup(task.node.driver_info["fake_address"])
        except OSError:
            pass  # a real one would refuse the name; the query left the host either way

    monkeypatch.setattr(fake.FakePower, "validate", validate)
    subject = conformance.Subject("fake-hardware", INFO, unreachable=lambda host, port: None)
    with pytest.raises(AssertionError, match="touched the network: .*bmc1.example.invalid"):
        conformance.run(subject, [conformance.validate_never_touches_the_hardware])


def test_a_lookup_of_an_ip_literal_passes(monkeypatch):
    def validate(self, task):
        socket.getaddrinfo("10.0.0.1", 623, flags=socket.AI_NUMERICHOST)
        socket.getaddrinfo("fe80::1", None)
        socket.gethostbyname("127.0.0.1")

    monkeypatch.setattr(fake.FakePower, "validate", validate)
    subject = conformance.Subject("fake-hardware", INFO, unreachable=lambda host, port: None)
    conformance.run(subject, [conformance.validate_never_touches_the_hardware])
    assert socket.getaddrinfo("127.0.0.1", None)  # the real one is back
