"""A simulated machine removed while it boots ends its boot thread quietly.

The boot thread, still fetching the boot script when the machine's fixture
powered it off and deleted its directory, then failed to log its failure
into the deleted directory: a FileNotFoundError in a thread, reported as
the unhandled exception of whichever test was running.
"""

import socket
import threading

import fixtures

from hwdrivers.testing import machines
from tests.waits import wait_for


def test_a_boot_in_flight_when_the_machine_goes_ends_quietly(monkeypatch):
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    accepted = []
    try:
        url = "http://127.0.0.1:%d/boot.ipxe" % listener.getsockname()[1]
        with fixtures.TempDir() as temp:
            machine = machines.MachineFixture(boot_url=url, directory=temp.join("m"))
            with machine:
                machine.machine.set_boot_device("pxe", persistent=True)
                machine.machine.power_on()
                accepted.append(listener.accept()[0])  # the boot is fetching
            # powered off by the fixture, its directory gone with the TempDir
        boots = [t for t in threading.enumerate() if t.name == "sim-boot-m"]
        accepted[0].close()  # the fetch fails now
        for thread in boots:
            thread.join(10)
        wait_for(lambda: not any(t.is_alive() for t in boots), 10, message="the boot ended")
    finally:
        listener.close()
    assert errors == []
