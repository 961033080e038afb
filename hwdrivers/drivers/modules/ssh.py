"""Helper processes with a deadline, and the OpenSSH client as a transport.

Used by the command and external drivers. Two promises:

* A helper that overruns its deadline is killed with everything it
  started: each runs in its own session, and the whole process group gets
  SIGKILL. No stray ``sleep`` survives a hung power script.
* SSH is OpenSSH's own client, never a reimplementation: key auth,
  ``BatchMode`` (never a prompt), host keys always checked
  (``StrictHostKeyChecking=yes``), and one connection per target reused
  through a control master (``ControlMaster=auto`` + ``ControlPersist``)
  whose socket lives in a private directory under ``[DEFAULT] state_path``.
"""

import base64
import collections
import hashlib
import os
import re
import select
import selectors
import signal
import stat
import subprocess
import tempfile
import time


from hwdrivers.common import exception
from hwdrivers.conf import CONF


Result = collections.namedtuple("Result", ["returncode", "stdout", "stderr"])

#: A unix socket path holds 107 bytes; ssh adds ".XXXXXXXXXXXXXXXX" while
#: it creates the socket, and our socket names are 16 characters.
_SOCKET_ROOM = 107 - 17 - 17


class ProcessTimeout(Exception):
    """The helper ran past its deadline; its process group was killed."""

    def __init__(self, timeout, stdout, stderr):
        super().__init__("still running after %ss" % timeout)
        self.timeout = timeout
        self.stdout = stdout
        self.stderr = stderr


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


#: Most a helper may print on stdout or on stderr before it is killed, as for
#: an external driver: a status command that prints without end (``yes``, a
#: log followed with ``tail -f``) must not fill the conductor's memory, which
#: it does at gigabytes a second.
MAX_OUTPUT = 1024 * 1024


class OutputLimit(Exception):
    """The helper printed more than :data:`MAX_OUTPUT` bytes on one stream; its
    process group was killed."""

    def __init__(self, stderr):
        super().__init__("printed more than %d bytes" % MAX_OUTPUT)
        self.stderr = stderr


#: Reads of up to 64 KiB per stream after an exit: more than a pipe can hold.
_DRAIN_ROUNDS = 32


class _Pipes:
    """``communicate()``, bounded: each stream read up to :data:`MAX_OUTPUT` bytes.

    With ``end_at_exit`` the reading also ends once the process has exited
    (a pidfd says when) and what it left in the pipes is read: a background
    child that inherited stdout (``helper &`` in a power script) keeps the
    pipes open, and waiting for their EOF turned a command that finished at
    once into a timeout, and killed the child with it.
    """

    def __init__(self, proc, data, end_at_exit=False):
        self.proc = proc
        self.pending = data or b""
        self.chunks = {proc.stdout: [], proc.stderr: []}
        self.sizes = {proc.stdout: 0, proc.stderr: 0}
        self.selector = selectors.DefaultSelector()
        for stream in (proc.stdout, proc.stderr):
            self.selector.register(stream, selectors.EVENT_READ)
        self.pidfd = None
        if end_at_exit and hasattr(os, "pidfd_open"):
            try:
                self.pidfd = os.pidfd_open(proc.pid)
            except OSError:  # a kernel without pidfds (< 5.3): wait for EOF
                pass
            else:
                self.selector.register(self.pidfd, selectors.EVENT_READ)
        if proc.stdin is not None:
            if self.pending:
                self.selector.register(proc.stdin, selectors.EVENT_WRITE)
            else:
                proc.stdin.close()

    def _drain(self):
        """After the exit: what the pipes hold now, not what others may add later."""
        self.selector.unregister(self.pidfd)
        for key in list(self.selector.get_map().values()):
            if key.fileobj is self.proc.stdin:
                self.selector.unregister(key.fileobj)
        for _ in range(_DRAIN_ROUNDS):  # a child printing on cannot hold us here
            ready = self.selector.select(0) if self.selector.get_map() else []
            if not ready:
                break
            for key, _ in ready:
                self._read(key.fileobj)
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)

    def _read(self, stream):
        block = os.read(stream.fileno(), 65536)
        if not block:
            self.selector.unregister(stream)
            return
        self.chunks[stream].append(block)
        self.sizes[stream] += len(block)
        if self.sizes[stream] > MAX_OUTPUT:
            raise OutputLimit(_text(self.output(self.proc.stderr)))

    def output(self, stream):
        return b"".join(self.chunks[stream])

    def pump(self, deadline):
        """Until both outputs reach EOF; False if ``deadline`` (monotonic) came first.

        Raises :class:`OutputLimit` as soon as a stream passes the limit.
        """
        while self.selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in self.selector.select(left):
                stream = key.fileobj
                if stream is self.proc.stdin:
                    try:  # PIPE_BUF at most: a writable pipe takes it without blocking
                        written = os.write(stream.fileno(), self.pending[:select.PIPE_BUF])
                        self.pending = self.pending[written:]
                    except BrokenPipeError:  # the helper closed stdin unread
                        self.pending = b""
                    if not self.pending:
                        self.selector.unregister(stream)
                        stream.close()
                    continue
                if stream is self.pidfd:
                    self._drain()
                    return True
                self._read(stream)
        return True

    def close(self):
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def run_process(argv, *, input=None, env=None, timeout, end_at_exit=False):
    """Run ``argv`` to completion or until ``timeout`` seconds; return a :class:`Result`.

    ``input`` (str) goes to stdin, which is /dev/null otherwise. With
    ``end_at_exit`` the run ends when the process exits, even while a child
    it left running still holds its output open (see :class:`_Pipes`);
    without, at the EOF of both outputs (an ssh client's exit may precede
    the last output its control master passes on). Raises
    :class:`ProcessTimeout` after killing the process group,
    :class:`OutputLimit` (the group killed at once) when it prints more than
    :data:`MAX_OUTPUT` bytes on a stream, and lets ``OSError`` from exec
    (missing binary...) through for the caller to name.
    """
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        start_new_session=True, close_fds=True)
    pipes = _Pipes(proc, input.encode() if input is not None else None, end_at_exit)
    try:
        finished = pipes.pump(deadline)
        if finished:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:  # closed its output, still running
                finished = False
        if not finished:
            _kill_group(proc.pid)
            # Pipes close once the group is gone. Something outside the group
            # may still hold them: a child that called setsid, or an ssh
            # control master, which holds a multiplexed session's stdio until
            # the remote command ends. So wait briefly for the last output.
            if not pipes.pump(time.monotonic() + 1):
                proc.kill()
            proc.wait()
            raise ProcessTimeout(timeout, _text(pipes.output(proc.stdout)),
                                 _text(pipes.output(proc.stderr)))
    finally:
        if proc.poll() is None:  # interrupted, or printed too much
            _kill_group(proc.pid)
            proc.kill()
            proc.wait()
        pipes.close()
    return Result(proc.returncode, _text(pipes.output(proc.stdout)),
                  _text(pipes.output(proc.stderr)))


def _text(data):
    return (data or b"").decode("utf-8", "replace")


def tail(text, lines=5, chars=400):
    """The last few lines of a helper's output, for error messages."""
    text = "\n".join(line for line in (text or "").strip().splitlines()[-lines:])
    return text[-chars:] if len(text) > chars else text


# -- OpenSSH -------------------------------------------------------------------

class Target(collections.namedtuple(
        "Target", ["host", "port", "user", "key", "known_hosts"])):
    """Where commands run: user@host:port, the identity and the known_hosts file."""

    def __str__(self):
        return "%s@%s:%s" % (self.user or "(local user)", self.host, self.port)


def _control_dir_path():
    """Where :func:`control_dir` is, whether or not it exists yet."""
    state_path = os.path.abspath(CONF.state_path)
    path = os.path.join(state_path, "ssh")
    if len(path) > _SOCKET_ROOM:
        digest = hashlib.sha256(state_path.encode()).hexdigest()[:10]
        path = os.path.join(tempfile.gettempdir(),
                            "hwdrivers-ssh-%d-%s" % (os.getuid(), digest))
    return path


def control_dir():
    """The private directory of control sockets, created if needed.

    ``<state_path>/ssh`` when that path is short enough for a unix socket,
    otherwise ``<tmp>/hwdrivers-ssh-<uid>-<hash of state_path>``. Either
    way it must be a directory of ours, mode 0700.
    """
    path = _control_dir_path()
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise exception.DriverSettingsError(
            "SSH control directory %s is not a directory owned by uid %d; remove it "
            "or change [DEFAULT] state_path" % (path, os.getuid()))
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def control_path(target):
    """The control socket of ``target``: one per user, host, port, key and known_hosts.

    The key and known_hosts take part so a connection opened with one
    identity never serves a node configured with another.
    """
    ident = "\0".join(str(p) for p in target)
    return os.path.join(control_dir(), hashlib.sha256(ident.encode()).hexdigest()[:16])


def new_client_log():
    """A new empty file, private to us, for one ssh client's own messages (``-E``).

    ssh exits 255 both on its own failures and when the remote command
    does, and the remote command's stderr comes out on ssh's stderr: a
    command on a jump host that runs ssh or ipmitool itself (``ssh bmc
    power on``) and fails with "Permission denied" or "Host key
    verification failed" read as if our key or our known_hosts were wrong.
    With ``-E`` ssh writes its own messages to this file instead, so its
    stderr is the remote command's alone and the file says whether ssh
    failed. Read and removed by :func:`take_client_log`.
    """
    fd, path = tempfile.mkstemp(prefix="log-", dir=control_dir())
    os.close(fd)
    return path


def take_client_log(path):
    """What ssh wrote to the file from :func:`new_client_log`, which is removed."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_OUTPUT)
    except OSError:
        data = b""
    try:
        os.unlink(path)
    except OSError:
        pass
    return _text(data).replace("\r\n", "\n")


def client_argv(target, remote_command, timeout, log=None):
    """The ``ssh`` argv that runs ``remote_command`` (one string) on ``target``.

    With ``log`` (from :func:`new_client_log`) ssh writes its own messages
    there rather than on stderr.
    """
    argv = [CONF.command.ssh_command, "-T", "-x", "-a",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "UpdateHostKeys=no",
            "-o", "ClearAllForwardings=yes",
            "-o", "ConnectTimeout=%d" % max(1, min(int(timeout),
                                                   CONF.command.ssh_connect_timeout)),
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=2",
            "-p", str(target.port)]
    if target.known_hosts:
        argv += ["-o", "UserKnownHostsFile=%s" % target.known_hosts,
                 "-o", "GlobalKnownHostsFile=/dev/null"]
    if target.key:
        argv += ["-i", target.key, "-o", "IdentitiesOnly=yes"]
    if target.user:
        argv += ["-l", target.user]
    if log is not None:
        argv += ["-E", log]
    if CONF.command.ssh_control_persist > 0:
        argv += ["-o", "ControlMaster=auto",
                 "-o", "ControlPersist=%d" % CONF.command.ssh_control_persist,
                 "-o", "ControlPath=%s" % control_path(target)]
    else:
        argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    return argv + ["--", target.host, remote_command]


# ssh's own failures (it exits 255), most specific first.
_SSH_FAILURES = [
    (re.compile(r"UNPROTECTED PRIVATE KEY FILE|bad permissions"), exception.DriverSettingsError,
     "the private key {key_field} {key} is readable by others and ssh refuses "
     "it: chmod 600 it"),
    (re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|"
                r"host key is known"), exception.DriverSettingsError,
     "the host key of {host}:{port} is not in {known_hosts_field} ({known_hosts}) or "
     "does not match it: add the host's key to that file (ssh-keyscan -p {port} {host}, "
     "checked out of band)"),
    (re.compile(r"Permission denied|Too many authentication failures"),
     exception.DriverAuthError,
     "{target} refused the SSH key {key}: check {user_field} and {key_field}, and "
     "the key's line in the server's authorized_keys"),
    (re.compile(r"Could not resolve hostname"), exception.DriverConnectionError,
     "cannot resolve {host_field} {host}: check the name or use an IP address"),
    (re.compile(r"Connection refused|timed out|No route to host|Network is unreachable|"
                r"Connection reset|Connection closed|kex_exchange_identification|"
                r"Broken pipe|Control socket connect"), exception.DriverConnectionError,
     "cannot reach the SSH server {host}:{port}"),
]


#: What ssh says when it could not use the key file it was given.
_KEY_REFUSED = re.compile(r"Load key|bad permissions|UNPROTECTED PRIVATE KEY FILE|"
                          r"Permission denied|Too many authentication failures")
_PUBLIC_KEY = re.compile(rb"(ssh|ecdsa|sk)-[a-z0-9@.-]+ +AAAA[A-Za-z0-9+/=]+")
_OPENSSH_PEM = re.compile(rb"-----BEGIN OPENSSH PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)"
                          rb"-----END OPENSSH PRIVATE KEY-----")


def key_problem(path):
    """Why the file at ``path`` cannot serve ssh in BatchMode as a key, or None.

    ssh says only "Permission denied (publickey)" for a key protected by a
    passphrase (BatchMode cannot ask for it), and "readable by others" or
    "error in libcrypto" for a public key or a file that is no key, so the
    file itself is read to say which. None when it looks usable or cannot
    be read.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(65536)
    except OSError:
        return None
    if _PUBLIC_KEY.match(data.lstrip()):
        return ("is a public key: set the path of the private key (the same name "
                "without .pub)")
    match = _OPENSSH_PEM.search(data)
    if match:
        try:
            blob = base64.b64decode(b"".join(match.group(1).split()))
        except ValueError:
            return "is not a private key ssh can read (its base64 is broken)"
        magic = b"openssh-key-v1\0"
        if blob.startswith(magic) and len(blob) >= len(magic) + 4:
            size = int.from_bytes(blob[len(magic):len(magic) + 4], "big")
            cipher = blob[len(magic) + 4:len(magic) + 4 + size]
            if cipher != b"none":
                return _PASSPHRASE
        return None
    if b"PRIVATE KEY-----" not in data:
        return "is not a private key (no PRIVATE KEY block in it)"
    if b"ENCRYPTED" in data:  # PEM: Proc-Type: 4,ENCRYPTED or ENCRYPTED PRIVATE KEY
        return _PASSPHRASE
    return None


_PASSPHRASE = ("is protected by a passphrase, which ssh cannot ask for (BatchMode): "
               "remove it (ssh-keygen -p -N '' -f KEY) or load the key into an "
               "ssh-agent whose SSH_AUTH_SOCK the conductor has")


def raise_for_ssh_failure(result, target, label=lambda field: field):
    """Raise the taxonomy error for an ssh failure; return if it was not ssh's.

    ssh exits 255 on its own errors (a remote command may too, so the
    stderr decides: pass ssh's own messages, from :func:`take_client_log`,
    as the result's stderr when the client ran with ``-E``). ``label``
    names a setting (``command_ssh_key``...) the way the caller's
    configuration spells it, for the fix in the message.
    """
    if result.returncode != 255:
        return
    if target.key and _KEY_REFUSED.search(result.stderr):
        problem = key_problem(target.key)
        if problem:
            raise exception.DriverSettingsError("%s %s %s (ssh: %s)" % (
                label("command_ssh_key"), target.key, problem, tail(result.stderr, lines=1)))
    for pattern, cls, template in _SSH_FAILURES:
        if pattern.search(result.stderr):
            message = template.format(
                target=target, host=target.host, port=target.port,
                key=target.key or "(ssh's default keys)",
                known_hosts=target.known_hosts or "~/.ssh/known_hosts",
                host_field=label("command_host"), user_field=label("command_user"),
                key_field=label("command_ssh_key"),
                known_hosts_field=label("command_known_hosts"))
            raise cls("%s (ssh: %s)" % (message, tail(result.stderr, lines=1)))


def master_running(target):
    """True when a control master for ``target`` is up (``ssh -O check``)."""
    path = control_path(target)
    if not os.path.exists(path):
        return False
    result = run_process([CONF.command.ssh_command, "-o", "ControlPath=%s" % path,
                          "-O", "check", "--", target.host], timeout=10)
    return result.returncode == 0


def retire_master(target):
    """Have ``target``'s control master take no new session (``ssh -O stop``).

    Called when a command over it timed out. A connection whose packets a
    firewall or NAT now drops (its state lost in a failover) gives no error:
    the master notices only after ``ServerAliveInterval x
    ServerAliveCountMax`` (30 s and more), and every command multiplexed
    onto it meanwhile hangs to its timeout, retries included. Once stopped,
    the master removes its socket and ends when its sessions do, so the
    next command connects anew; ``stop`` rather than ``exit`` leaves the
    other commands running over a healthy master untouched. The request is
    local (the master's socket), so it gets 1 s: the operation's deadline
    allows no more.
    """
    if CONF.command.ssh_control_persist <= 0:
        return
    path = control_path(target)
    if not os.path.exists(path):
        return
    try:
        run_process([CONF.command.ssh_command, "-o", "ControlPath=%s" % path,
                     "-O", "stop", "--", target.host], timeout=1)
    except (OSError, ProcessTimeout, OutputLimit):
        pass  # a master that does not answer a local request in 1 s serves no one


def close_masters():
    """Ask every control master of this state_path to exit (``ssh -O exit``).

    Masters also exit by themselves after ``[command] ssh_control_persist``
    idle seconds; a stopping conductor calls this to end them at once.
    """
    directory = _control_dir_path()
    if not os.path.isdir(directory):  # no SSH command ran: nothing to end, nothing to create
        return
    directory = control_dir()  # checked ours before its sockets are used
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            continue
        try:
            run_process([CONF.command.ssh_command, "-o", "ControlPath=%s" % path,
                         "-O", "exit", "--", "control-master"], timeout=10)
        except (OSError, ProcessTimeout):
            pass
