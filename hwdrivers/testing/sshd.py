"""A real OpenSSH server on 127.0.0.1 for the command driver's SSH tests.

:class:`SshdFixture` runs Debian's ``/usr/sbin/sshd`` as the current
user (root in CI) on a free loopback port, in the foreground (``-D``) with
its log on stderr (``-e``) written to a file, so tests can read what the
server saw: ``Accepted publickey`` once per new connection — the proof
that commands shared one ControlMaster connection — and the reason of
every refusal. It is configured from scratch (``-f``, nothing read from
/etc/ssh): a host key generated here, public-key auth only
(``PasswordAuthentication no``, ``UsePAM no``), ``StrictModes no`` because
the key files live in a pytest tmp dir, and ``AuthorizedKeysFile`` naming
one generated client key.

Also generated, for the error tests: a second client key the server does
not accept (``other_key``), a ``known_hosts`` holding the server's real
host key, and ``wrong_known_hosts`` holding another key for the same
``[127.0.0.1]:port``, as after a reinstall or a man in the middle.

sshd's privilege separation needs ``/run/sshd`` to exist (a package
install creates it at boot through tmpfiles; a container may lack it), so
the fixture creates it. Skipped, with the reason, when sshd or ssh-keygen
is missing or the tests do not run as root (sshd then cannot switch to the
user it authenticates).
"""

import dataclasses
import os
import shutil
import subprocess

import fixtures

from hwdrivers.testing import processes
from hwdrivers.testing.processes import Unavailable, free_tcp_port, stop_group, wait_for_log

__all__ = ["SSHD", "Sshd", "SshdFixture", "start_sshd", "free_tcp_port"]

SSHD = "/usr/sbin/sshd"


@dataclasses.dataclass
class Sshd:
    host: str
    port: int
    user: str
    process: subprocess.Popen
    log_path: str
    client_key: str         # authorized private key
    other_key: str          # a private key the server refuses
    known_hosts: str        # the server's real host key
    wrong_known_hosts: str  # another key for the same host and port
    workdir: str

    def log(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()

    def log_size(self):
        return os.path.getsize(self.log_path)

    def log_since(self, offset):
        """What the server logged after ``offset`` (a previous :meth:`log_size`)."""
        with open(self.log_path, errors="replace") as handle:
            handle.seek(offset)
            return handle.read()

    def accepted_since(self, offset):
        """New connections authenticated since ``offset``."""
        return self.log_since(offset).count("Accepted publickey")

    def profile_options(self, **extra):
        """The SSH options of a ``[command_profile:<name>]`` reaching this server."""
        options = {"host": self.host, "port": self.port, "user": self.user,
                   "ssh_key": self.client_key, "known_hosts": self.known_hosts}
        options.update(extra)
        return options

    def driver_info(self, **extra):
        """The SSH part of an inline-template node's driver_info reaching this server."""
        info = {"command_host": self.host, "command_port": self.port,
                "command_user": self.user, "command_ssh_key": self.client_key,
                "command_known_hosts": self.known_hosts}
        info.update(extra)
        return info


def _keygen(path, comment):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", path], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(path + ".pub") as handle:
        return handle.read().split()[:2]  # key type, base64


def _start(workdir):
    if not os.path.exists(SSHD) or not shutil.which("ssh-keygen") or not shutil.which("ssh"):
        raise Unavailable("OpenSSH server/client not installed (apt-get install openssh-server "
                    "openssh-client): %s, ssh-keygen and ssh are needed" % SSHD)
    if os.geteuid() != 0:
        raise Unavailable("the sshd fixture runs sshd as root (it must switch to the "
                    "authenticated user); these tests run as uid %d" % os.geteuid())
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    host_key = os.path.join(workdir, "ssh_host_ed25519_key")
    host_pub = _keygen(host_key, "hwdrivers-test-host")
    impostor_pub = _keygen(os.path.join(workdir, "impostor_host_key"), "impostor")
    client_key = os.path.join(workdir, "client_key")
    client_pub = _keygen(client_key, "hwdrivers-test-client")
    other_key = os.path.join(workdir, "other_key")
    _keygen(other_key, "not-authorized")

    authorized = os.path.join(workdir, "authorized_keys")
    with open(authorized, "w") as handle:
        handle.write("%s %s hwdrivers-test-client\n" % tuple(client_pub))
    port = free_tcp_port()
    host = "127.0.0.1"
    known_hosts = os.path.join(workdir, "known_hosts")
    wrong_known_hosts = os.path.join(workdir, "wrong_known_hosts")
    for path, (kind, key) in ((known_hosts, host_pub), (wrong_known_hosts, impostor_pub)):
        with open(path, "w") as handle:
            handle.write("[%s]:%d %s %s\n" % (host, port, kind, key))

    config = os.path.join(workdir, "sshd_config")
    with open(config, "w") as handle:
        handle.write("\n".join([
            "ListenAddress %s:%d" % (host, port),
            "HostKey %s" % host_key,
            "PidFile none",
            "StrictModes no",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AuthenticationMethods publickey",
            "AuthorizedKeysFile %s" % authorized,
            "PermitRootLogin prohibit-password",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "PermitTTY no",
            "MaxSessions 20",
            "MaxStartups 50",
            "LoginGraceTime 20",
            "LogLevel VERBOSE",
            "",
        ]))
    log_path = os.path.join(workdir, "sshd.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Sshd(host, port, "root", process, log_path, client_key, other_key,
                  known_hosts, wrong_known_hosts, workdir)
    wait_for_log(process, server.log, "Server listening on", "sshd", timeout=30)
    return server


def start_sshd(workdir):
    """Start sshd with its keys and config in ``workdir`` (an existing directory)."""
    return _start(str(workdir))


class SshdFixture(processes.Fixture):
    """A running OpenSSH server: ``.server`` (an :class:`Sshd`).

    ``.server.driver_info()`` is the SSH part of a command node's driver_info.
    ``directory``: where its files go (default: a temporary directory).
    """

    def __init__(self, directory=None):
        super().__init__()
        self.directory = directory

    def _setUp(self):
        directory = self.directory or self.useFixture(fixtures.TempDir()).path
        self.server = start_sshd(directory)
        self.addCleanup(stop_group, self.server.process)
