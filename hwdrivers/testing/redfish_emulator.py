"""sushy-tools' Redfish emulator on 127.0.0.1, with its fake systems driver.

:class:`RedfishEmulatorFixture` runs ``sushy-emulator`` over HTTP with
several fake systems (so system selection is exercised, and tests that wait
for power changes each have their own system), a fresh state directory,
and HTTP basic auth from an htpasswd file (bcrypt), so wrong credentials
are refused for real; ``tls=True`` serves HTTPS with a self-signed
certificate (``.emulator.ca_bundle``), and ``systems`` chooses the systems
(one system: the "only system" default). Everything goes in a config file
passed with ``--config``, nothing secret in argv.

The fake driver applies a power change 1-11 s (randomly, not configurable
in sushy-tools 2.x) after the request, like real hardware, so callers must
poll to verify. sushy-tools has no SessionService: with the auth file, a
session login is refused (401) and clients fall back to basic auth.
"""

import dataclasses
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time

import fixtures

from hwdrivers.testing import certificates
from hwdrivers.testing import processes
from hwdrivers.testing.processes import Unavailable, free_tcp_port, stop_group

__all__ = ["SYSTEMS", "USERS", "RedfishEmulator", "RedfishEmulatorFixture",
           "start_emulator", "free_port"]

SYSTEMS = {
    # name: (uuid, initial power state)
    "sys-a": ("5a3f0001-0000-4000-8000-00000000000a", "Off"),
    "sys-b": ("5a3f0002-0000-4000-8000-00000000000b", "On"),
    "sys-c": ("5a3f0003-0000-4000-8000-00000000000c", "Off"),
    "sys-d": ("5a3f0004-0000-4000-8000-00000000000d", "On"),
    "sys-e": ("5a3f0005-0000-4000-8000-00000000000e", "Off"),
    "sys-f": ("5a3f0006-0000-4000-8000-00000000000f", "On"),
}
USERS = {"admin": "Redfish-Pass-1", "operator": "Operator-Pass-2", "viewer": "Viewer-Pass-3"}


@dataclasses.dataclass
class RedfishEmulator:
    url: str
    port: int
    process: subprocess.Popen
    log_path: str
    ca_bundle: str = None
    systems: dict = dataclasses.field(default_factory=lambda: dict(SYSTEMS))

    username = "admin"
    password = USERS["admin"]
    users = USERS

    def uuid(self, name):
        return self.systems[name][0]

    def driver_info(self, system="sys-a", **overrides):
        """driver_info for one of the emulator's systems (by name; None: unset)."""
        info = {"redfish_address": self.url, "redfish_username": self.username,
                "redfish_password": self.password}
        if system is not None:
            info["redfish_system_id"] = self.uuid(system)
        info.update(overrides)
        return info

    def system_json(self, name):
        """The system as the emulator serves it (to check what the driver set)."""
        import requests
        response = requests.get("%s/redfish/v1/Systems/%s" % (self.url, self.uuid(name)),
                                auth=(self.username, self.password),
                                verify=self.ca_bundle or True, timeout=10)
        response.raise_for_status()
        return response.json()

    def log(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()

    def count_requests(self, method, path):
        """How many ``method path`` requests the emulator has logged so far.

        The request log line is written just after the answer is sent, so
        the count is read until it stops changing for a moment.
        """
        needle = '"%s %s HTTP/' % (method, path)
        last, stable_since = None, time.monotonic()
        while True:
            # werkzeug colours non-GET lines with ANSI escapes; drop them.
            count = re.sub(r"\x1b\[[0-9;]*m", "", self.log()).count(needle)
            if count != last:
                last, stable_since = count, time.monotonic()
            elif time.monotonic() - stable_since >= 0.2:
                return count
            time.sleep(0.05)


free_port = free_tcp_port


def _binary():
    candidate = os.path.join(os.path.dirname(sys.executable), "sushy-emulator")
    return candidate if os.path.exists(candidate) else shutil.which("sushy-emulator")


def _write_htpasswd(path):
    import bcrypt
    with open(path, "w") as handle:
        for user, password in USERS.items():
            digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
            handle.write("%s:%s\n" % (user, digest))


def _write_certificate(directory):
    """A self-signed certificate for 127.0.0.1; returns (cert path, key path)."""
    return certificates.write_self_signed(directory, "bmc", "hwdrivers test BMC")


def _wait_ready(process, url, log_path, verify, deadline=20.0):
    import requests
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            return False
        try:
            requests.get(url + "/redfish/v1/", timeout=1, verify=verify)
            return True
        except requests.RequestException:
            time.sleep(0.1)
    with open(log_path, errors="replace") as handle:
        raise RuntimeError("sushy-emulator did not answer at %s within %ss:\n%s"
                           % (url, deadline, handle.read()[-2000:]))


def _fixed_delay_driver():
    """sushy-tools' fake driver with each system's power changes taking
    ``power_delay`` seconds (still asynchronous) instead of a random 1-11 s."""
    from sushy_tools.emulator.resources.systems import fakedriver

    class FixedDelayFakeDriver(fakedriver.FakeDriver):
        def set_power_state(self, identity, state):
            super().set_power_state(identity, state)
            system = self._get(identity)
            delay = system.get("power_delay")
            if delay is not None and system.get("pending_power"):
                self._update(system, pending_power=dict(
                    system["pending_power"], apply_time=time.time() + delay))

    return FixedDelayFakeDriver


def main():
    """``python -m hwdrivers.testing.redfish_emulator --config FILE``: the emulator
    with :func:`_fixed_delay_driver`."""
    from sushy_tools.emulator import main as emulator_main
    from sushy_tools.emulator.resources.systems import fakedriver

    fakedriver.FakeDriver = _fixed_delay_driver()
    sys.argv[0] = "sushy-emulator"
    return emulator_main.main()


def start_emulator(directory, tls=False, systems=None, power_delay=None):
    """Start sushy-emulator in ``directory``; retried on a port taken meanwhile.

    ``systems``: ``{name: (uuid, power state)}``, default :data:`SYSTEMS`.
    ``power_delay``: seconds every power change takes (None: sushy-tools'
    own random 1-11 s).
    """
    systems_map = dict(SYSTEMS if systems is None else systems)
    binary = _binary()
    if power_delay is not None and importlib.util.find_spec("sushy_tools") is not None:
        binary = binary or sys.executable  # run through this interpreter: -m, below
    if binary is None:
        raise Unavailable("sushy-emulator is not installed (pip install "
                          "'hwdrivers[testing]', or sushy-tools)")
    directory = str(directory)
    htpasswd = os.path.join(directory, "htpasswd")
    _write_htpasswd(htpasswd)
    cert = key = None
    if tls:
        cert, key = _write_certificate(directory)
    systems = [{"uuid": uuid, "name": name, "power_state": power,
                "nics": [{"mac": "52:54:00:00:00:%02x" % i, "ip": "192.0.2.%d" % (i + 10)}]}
               for i, (name, (uuid, power)) in enumerate(sorted(systems_map.items()))]
    argv = [binary]
    if power_delay is not None:
        for system in systems:
            system["power_delay"] = power_delay
        argv = [sys.executable, "-m", "hwdrivers.testing.redfish_emulator"]
    for _attempt in range(3):
        port = free_port()
        config = os.path.join(directory, "emulator.conf")
        with open(config, "w") as handle:
            handle.write("SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
                         "SUSHY_EMULATOR_LISTEN_PORT = %d\n"
                         "SUSHY_EMULATOR_FAKE_DRIVER = True\n"
                         "SUSHY_EMULATOR_FAKE_SYSTEMS = %r\n"
                         "SUSHY_EMULATOR_STATE_DIR = %r\n"
                         "SUSHY_EMULATOR_AUTH_FILE = %r\n"
                         % (port, systems, os.path.join(directory, "state"), htpasswd))
            if tls:
                handle.write("SUSHY_EMULATOR_SSL_CERT = %r\nSUSHY_EMULATOR_SSL_KEY = %r\n"
                             % (cert, key))
        log_path = os.path.join(directory, "emulator-%d.log" % port)
        with open(log_path, "w") as log:
            process = subprocess.Popen(argv + ["--config", config], stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        url = "%s://127.0.0.1:%d" % ("https" if tls else "http", port)
        if _wait_ready(process, url, log_path, verify=cert or True):
            return RedfishEmulator(url=url, port=port, process=process, log_path=log_path,
                                   ca_bundle=cert, systems=systems_map)
        stop_group(process)
    raise RuntimeError("sushy-emulator failed to start; see %s" % log_path)


class RedfishEmulatorFixture(processes.Fixture):
    """A running sushy-tools emulator: ``.emulator`` (a :class:`RedfishEmulator`).

    ``.emulator.driver_info("sys-a")`` is a redfish node's driver_info for
    one of its systems. ``directory``: where its files go (default: a
    temporary directory removed afterwards). ``power_delay``: seconds each
    power change takes (default: sushy-tools' random 1-11 s).
    """

    def __init__(self, tls=False, systems=None, directory=None, power_delay=None):
        super().__init__()
        self.tls = tls
        self.systems = systems
        self.directory = directory
        self.power_delay = power_delay

    def _setUp(self):
        directory = self.directory or self.useFixture(fixtures.TempDir()).path
        self.emulator = start_emulator(directory, tls=self.tls, systems=self.systems,
                                       power_delay=self.power_delay)
        self.addCleanup(stop_group, self.emulator.process)


if __name__ == "__main__":
    sys.exit(main())
