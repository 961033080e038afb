"""OpenIPMI's ``ipmi_sim``: a BMC with serial over LAN, and the machine's serial port.

``ipmi_sim`` (Debian ``openipmi``) is a full IPMI 2.0 LAN BMC; its ``sol``
setting takes ``tcp:ADDRESS:PORT`` as the machine's serial port and connects
there (retrying until something listens). :class:`SerialPort` is that
other end: a TCP server the test owns, which plays the machine, so a test
writes what the machine prints and reads what a console user typed.

The simulator listens on 127.0.0.1 on a free UDP port, with its state in
the test's directory. It offers cipher suite 3 (ipmitool 1.8.19 asks for 17
unless told, which ipmi_sim does not know), so :meth:`IPMISim.driver_info`
sets ``ipmi_cipher_suite`` 3. The fixture waits until both the BMC answers
``mc info`` and the simulator has connected to the serial port: bytes
typed into a SOL session before that are lost, as on a real machine whose
serial line is not up.

:class:`IPMISimFixture` runs one for a test (``.sim``: an :class:`IPMISim`,
``.sim.serial``: the machine's end of its serial port).
"""

import os
import shutil
import socket
import subprocess
import threading
import time

import fixtures

from hwdrivers.testing import processes

__all__ = ["USERNAME", "PASSWORD", "SerialPort", "IPMISim", "IPMISimFixture",
           "require_ipmi_sim", "free_udp_port"]

USERNAME = "admin"
PASSWORD = "S0L-s3cret"

LAN_CONF = """\
name "hwdrivers-test"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  sol "tcp:127.0.0.1:{serial}" 115200
  user 2 true "{user}" "{password}" admin 10 none md2 md5 straight
"""

EMU = """\
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_enable 0x20
"""


free_udp_port = processes.free_udp_port


class SerialPort:
    """The machine's serial line: what ipmi_sim connects its SOL to."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connected = threading.Event()
        self._conn = None
        self._received = bytearray()
        self._lock = threading.Lock()
        self._closed = False
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._closed:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with self._lock:  # the simulator reconnected: the newest line is the line
                if self._conn is not None:
                    self._conn.close()
                self._conn = conn
                self.connections += 1
            self.connected.set()
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                break
            with self._lock:
                self._received += data
        with self._lock:
            if self._conn is conn:
                self._conn = None
                self.connected.clear()

    def write(self, data: bytes):
        """Print ``data`` on the machine's serial console."""
        with self._lock:
            conn = self._conn
        if conn is None:
            raise AssertionError("ipmi_sim is not connected to the serial port")
        conn.sendall(data)

    def received(self) -> bytes:
        """Everything typed on the console so far."""
        with self._lock:
            return bytes(self._received)

    def close(self):
        self._closed = True
        self.server.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()


class IPMISim:
    def __init__(self, directory, username=USERNAME, password=PASSWORD):
        self.dir = directory
        self.username = username
        self.password = password
        self.serial = SerialPort()
        self.port = free_udp_port()
        os.makedirs(os.path.join(directory, "state"), exist_ok=True)
        self.conf = os.path.join(directory, "lan.conf")
        with open(self.conf, "w") as handle:
            handle.write(LAN_CONF.format(port=self.port, serial=self.serial.port,
                                         user=username, password=password))
        self.emu = os.path.join(directory, "sim.emu")
        with open(self.emu, "w") as handle:
            handle.write(EMU)
        self.log_path = os.path.join(directory, "ipmi_sim.log")
        self.proc = None

    def start(self, timeout=60):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["ipmi_sim", "-c", self.conf, "-f", self.emu, "-s",
             os.path.join(self.dir, "state"), "-n"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ipmi_sim did not start:\n%s" % self.log())
            time.sleep(0.2)
        if not self.serial.connected.wait(max(1.0, deadline - time.monotonic())):
            self.stop()
            raise RuntimeError("ipmi_sim never connected to the serial port")
        return self

    def ipmitool(self, *args, check=True):
        """Run ``ipmitool`` against the simulator (e.g. ``sol set enabled false``)."""
        env = dict(os.environ, IPMI_PASSWORD=self.password)
        result = subprocess.run(
            ["ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p",
             str(self.port), "-U", self.username, "-E", "-N", "1", "-R", "1", *args],
            env=env, capture_output=True, timeout=30)
        if check and result.returncode != 0:
            raise AssertionError("ipmitool %s: %s" % (" ".join(args), result.stderr))
        return result

    def _answers(self):
        return self.ipmitool("mc", "info", check=False).returncode == 0

    def log(self):
        try:
            with open(self.log_path, errors="replace") as handle:
                return handle.read()[-3000:]
        except OSError:
            return ""

    def driver_info(self, **overrides):
        info = {"ipmi_address": "127.0.0.1", "ipmi_port": self.port,
                "ipmi_username": self.username, "ipmi_password": self.password,
                "ipmi_cipher_suite": 3}
        info.update(overrides)
        return info

    def stop(self):
        if self.proc is not None:
            processes.stop_group(self.proc)
        self.serial.close()


def require_ipmi_sim():
    """Raise :class:`~hwdrivers.testing.processes.Unavailable` (a skip) when
    ipmi_sim or ipmitool is missing."""
    for tool in ("ipmi_sim", "ipmitool"):
        if shutil.which(tool) is None:
            raise processes.Unavailable(
                "%s is not installed (Debian: apt install openipmi ipmitool; "
                "tools/test.sh installs them)" % tool)


class IPMISimFixture(processes.Fixture):
    """A running ipmi_sim BMC with its serial port: ``.sim`` (an :class:`IPMISim`).

    ``.sim.driver_info()`` is an ipmi node's driver_info for it.
    ``directory``: where its files go (default: a temporary directory).
    """

    def __init__(self, directory=None):
        super().__init__()
        self.directory = directory

    def _setUp(self):
        require_ipmi_sim()
        directory = self.directory or self.useFixture(fixtures.TempDir()).join("ipmi_sim")
        self.sim = IPMISim(directory)
        self.addCleanup(self.sim.stop)
        self.sim.start()
