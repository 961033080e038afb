"""What the console tests share: a server with consoles, clients, process checks."""

import contextlib
import os
import socket
import threading
import time

from tests.functional import server_proc
from tests.waits import wait_for


#: A command profile whose console is ``socat`` to the serial line a test plays
#: (the console tests' :func:`serial_line`), and one with no console at all.
SOCAT_PROFILES = {
    "command": {"allow_local_commands": "true"},
    "command_profile:vmcon": {"power_on": "true", "power_off": "true",
                              "console": "socat - TCP:127.0.0.1:{serial_port}"},
    "command_profile:noconsole": {"power_on": "true", "power_off": "true"},
}


def serial_line():
    """A machine's serial line on a TCP port (a generator for a pytest fixture).

    Skips when socat, which the profiles above connect with, is missing.
    """
    import shutil

    import pytest

    from tests.fixtures import ipmi_sim
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (Debian: apt install socat; tools/test.sh "
                    "installs it)")
    port = ipmi_sim.SerialPort()
    yield port
    port.close()


class TcpLine:
    """A machine's serial line as a plain TCP server the session's socat connects to.

    Unlike :func:`serial_line`'s port it keeps every connection (``conns``),
    and the test decides how the line ends: the machine hangs up
    (:meth:`hang_up`), or the line goes away altogether (:meth:`cut`).
    """

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.conns.append(self.server.accept()[0])
            except OSError:
                return

    def hang_up(self):
        """The connections end; the line still takes new ones."""
        for conn in self.conns:
            conn.close()

    def cut(self):
        """The line goes away: connections end (FIN), new ones are refused."""
        conns, self.conns = self.conns, []
        for sock in [self.server] + conns:
            # shutdown first: a close() alone leaves a socket another thread
            # blocks on (accept, recv) open, and sends no FIN
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def free_port_range(count):
    """``START:END`` of ``count`` consecutive TCP ports free on 127.0.0.1 right now."""
    for _ in range(200):
        start = server_proc.free_tcp_port()
        if start + count > 65535:
            continue
        socks = []
        try:
            for port in range(start, start + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                socks.append(sock)
            return "%d:%d" % (start, start + count - 1)
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError("no %d consecutive free ports" % count)


def console_server(tmp_path, ports=4, name="server", **console):
    options = {"console": dict({"port_range": free_port_range(ports)}, **console)}
    return server_proc.ServerProcess(tmp_path, options=options, name=name)


@contextlib.contextmanager
def socat_server(tmp_path, ports=2, **console):
    """A started server with :data:`SOCAT_PROFILES` and ``ports`` console ports; stopped after."""
    options = dict(SOCAT_PROFILES, console=dict({"port_range": free_port_range(ports)},
                                                **console))
    server = server_proc.ServerProcess(tmp_path, options=options).start()
    try:
        yield server
    finally:
        server.stop()


def create_ipmi_node(server, name, driver_info):
    status, body = server.call("POST", "/v1/nodes", {
        "name": name, "driver": "ipmi", "driver_info": driver_info})
    assert status == 201, body
    return body["uuid"]


def create_serial_node(server, name, serial):
    """A node whose console is the command profile ``vmcon`` on ``serial``'s line; its UUID."""
    status, body = server.call("POST", "/v1/nodes", {
        "name": name, "driver": "command", "console_interface": "command",
        "driver_info": {"command_profile": "vmcon", "serial_port": str(serial.port)}})
    assert status == 201, body
    return body["uuid"]


def console_port(server, node):
    """The TCP port of ``node``'s console once it is on."""
    doc = wait_state(server, node, ("on", "failed"))
    assert doc["console_state"] == "on", doc
    return address(doc)[1]


def console_doc(server, node):
    status, body = server.call("GET", "/v1/nodes/%s/states/console" % node)
    assert status == 200, body
    return body


def enable(server, node, enabled=True):
    status, body = server.call("PUT", "/v1/nodes/%s/states/console" % node,
                               {"enabled": enabled})
    assert status == 202, body


def wait_state(server, node, states, timeout=60):
    states = (states,) if isinstance(states, str) else states
    return wait_for(lambda: (lambda d: d if d["console_state"] in states else None)(
        console_doc(server, node)), timeout, interval=0.1,
        message="console of %s in %s (server log:\n%s)" % (node, states,
                                                          server.log()[-2000:]))


def address(doc):
    url = doc["console_info"]["url"]
    assert url.startswith("tcp://"), url
    host, _, port = url[len("tcp://"):].rpartition(":")
    return host, int(port)


class Client:
    """A raw TCP console client, as socat or telnet would be."""

    def __init__(self, host_port, timeout=30):
        self.sock = socket.create_connection(host_port, timeout=timeout)
        self.buffer = b""

    def read_until(self, marker, timeout=30):
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("console never showed %r; got %r"
                                     % (marker, self.buffer[-500:]))
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                raise AssertionError("console closed before %r; got %r"
                                     % (marker, self.buffer[-500:]))
            self.buffer += data
        return self.buffer

    def read_to_end(self, timeout=30):
        self.sock.settimeout(timeout)
        while True:
            data = self.sock.recv(4096)
            if not data:
                return self.buffer
            self.buffer += data

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()


def processes_with(*needles):
    """PIDs whose command line holds every one of ``needles`` (strings)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if all(any(n == w for w in words) for n in needles):
            found.append(int(entry))
    return found


def sol_processes(bmc_port):
    """``ipmitool ... sol activate`` processes for the BMC on ``bmc_port``."""
    return [pid for pid in processes_with("-p", str(bmc_port), "activate")
            if _exe_name(pid) == "ipmitool"]


def _exe_name(pid):
    try:
        with open("/proc/%d/comm" % pid) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _hosted_ancestors(pid):
    """The console host's processes above ``pid``: its supervisor and the host.

    A supervisor the console host forked has the host's command line, not
    the session's; the host's is ``python -I -S .../console_host.py ...``.
    """
    found = []
    while True:
        try:
            with open("/proc/%d/stat" % pid) as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                cmdline = handle.read()
        except (OSError, ValueError, IndexError):
            return found
        if b"console_host.py" not in cmdline:
            return found
        found.append(pid)


def console_processes(bmc_port):
    """Every process of a console session for that BMC: supervisors and ipmitool.

    With the supervisors forked by the console host: those above the
    session's programs, and the host.
    """
    found = processes_with("-p", str(bmc_port))
    for pid in list(found):
        found += [p for p in _hosted_ancestors(pid) if p not in found]
    return found
