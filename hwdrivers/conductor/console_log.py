"""Per-node console logs: what each machine printed, capped and rotated.

The relay appends everything the console session prints, whether or not a
client is connected, to ``<state_path>/console/<node uuid>.log``. At
``[console] log_max_bytes`` the file is rotated (``.log`` -> ``.log.1`` ->
``.log.2``..., ``log_backups`` kept), so a chatty machine can never fill the
disk and the last boot is always there to read after it failed. Files are
created 0600 in a 0700 directory, and ones found looser (left by an older
version, restored from a backup) are made so: a console shows whatever the
machine prints, which only operators should read. What reaches this file has been
stripped of the node's secrets by the relay already.

A log that cannot be written (a full disk, a read-only file system) never
stops the console: its writes do not raise. The output is dropped and
counted, one warning says so, and every later write tries again; once one
succeeds, a line in the log says how many bytes were lost and why. A full
disk on the conductor used to kill every relay at its next write, turning
every console off and cutting its client off.
"""

import logging
import os
import re

LOG = logging.getLogger(__name__)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def log_dir(state_path: str) -> str:
    return os.path.join(state_path, "console")


def log_path(state_path: str, node_uuid: str) -> str:
    """The node's current log file; the UUID is checked (it names a file)."""
    if not _UUID.match(node_uuid or ""):
        raise ValueError("not a node UUID: %r" % (node_uuid,))
    return os.path.join(log_dir(state_path), "%s.log" % node_uuid)


def port_path(state_path: str, node_uuid: str) -> str:
    """Where the port the node's console last had is kept (its URL's port)."""
    return log_path(state_path, node_uuid)[:-len(".log")] + ".port"


def read_port(path: str) -> int | None:
    """The port recorded at ``path``, or None (none, unreadable, not a port)."""
    try:
        with open(path) as handle:
            port = int(handle.read(16).strip())
    except (OSError, ValueError):
        return None
    return port if 1 <= port <= 65535 else None


def write_port(path: str, port: int) -> None:
    """Record ``port`` at ``path`` (replacing it whole); errors are the caller's."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temporary = "%s.tmp" % path
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, b"%d\n" % port)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def remembered_ports(state_path: str) -> dict[int, float]:
    """``{port: mtime}`` of the ports files: which ports consoles had, and when."""
    found = {}
    directory = log_dir(state_path)
    try:
        names = os.listdir(directory)
    except OSError:
        return found
    for name in names:
        match = _NODE_FILE.match(name)
        if match is None or match.group(2) != "port":
            continue
        path = os.path.join(directory, name)
        port = read_port(path)
        try:
            when = os.stat(path).st_mtime
        except OSError:
            continue
        if port is not None:
            found[port] = max(when, found.get(port, when))
    return found


#: A node's files in the console directory: its log, the rotated logs, its port.
_NODE_FILE = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                        r"\.(log(\.\d+)?|port(\.tmp)?)$")


def nodes_with_files(state_path: str) -> set[str]:
    """The node UUIDs that have files (logs, ports) in the console directory."""
    try:
        names = os.listdir(log_dir(state_path))
    except OSError:
        return set()
    return {m.group(1) for m in map(_NODE_FILE.match, names) if m}


def remove_files(state_path: str, node_uuid: str) -> int:
    """Remove the node's log, rotated logs and port file; how many went.

    Whatever ``log_backups`` was when they were rotated: every ``.log.N``.
    A file that cannot be removed is logged and left for the next try.
    """
    log_path(state_path, node_uuid)  # checks the UUID
    directory = log_dir(state_path)
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        match = _NODE_FILE.match(name)
        if match is None or match.group(1) != node_uuid:
            continue
        try:
            os.unlink(os.path.join(directory, name))
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            LOG.warning("Cannot remove %s of deleted node %s: %s", name, node_uuid,
                        exc.strerror or exc)
    return removed


def _backup(path: str, number: int) -> str:
    return "%s.%d" % (path, number)


def _tighten(log_path, fd, paths) -> None:
    """Take group and other bits off ``fd`` and ``paths`` (a directory, rotated logs).

    ``os.open``'s mode and ``makedirs``' only apply to what they create: a
    log, its backups or the directory left by an older version, a restored
    backup or a hand-made ``mkdir`` kept whatever mode they had (0644, 0755),
    so console output stayed readable by every local user. Errors (a file
    owned by someone else, gone meanwhile) are logged, never raised.
    """
    for target, name in [(fd, log_path)] + [(path, path) for path in paths]:
        try:
            mode = os.stat(target).st_mode & 0o777
            if mode & 0o077:
                os.chmod(target, mode & 0o700)
                LOG.warning("Console log: %s was open to other users (mode %o); now %o",
                            name, mode, mode & 0o700)
        except FileNotFoundError:
            pass
        except OSError as exc:
            LOG.warning("Console log: cannot restrict the mode of %s: %s", name, exc)


class ConsoleLog:
    """An append-only log file that rotates at ``max_bytes``. One writer (the relay)."""

    def __init__(self, path: str, max_bytes: int, backups: int):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._fd = None
        self._size = 0
        #: Bytes dropped since the log last could be written, and why.
        self.lost = 0
        self.lost_reason = None
        self._tightened = False  # modes checked once, at the first open

    def _open(self):
        directory = os.path.dirname(self.path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o600)
        self._size = os.fstat(self._fd).st_size
        if not self._tightened:
            self._tightened = True
            _tighten(self.path, self._fd, [directory] + [
                _backup(self.path, n) for n in range(1, self.backups + 1)])

    def _rotate(self):
        os.close(self._fd)
        self._fd = None
        if self.backups == 0:
            os.unlink(self.path)
        else:
            for number in range(self.backups - 1, 0, -1):
                if os.path.exists(_backup(self.path, number)):
                    os.replace(_backup(self.path, number), _backup(self.path, number + 1))
            os.replace(self.path, _backup(self.path, 1))
        self._drop_extra_backups()
        self._open()

    def _drop_extra_backups(self):
        """Remove rotated files past ``backups``: kept from a larger [console] log_backups
        before a restart, they were never rotated nor removed again, and the disk a
        node's console takes was no longer bounded by the options."""
        directory, name = os.path.split(self.path)
        prefix = name + "."
        try:
            entries = os.listdir(directory)
        except OSError:
            return
        for entry in entries:
            suffix = entry[len(prefix):] if entry.startswith(prefix) else ""
            if suffix.isdigit() and int(suffix) > self.backups:
                try:
                    os.unlink(os.path.join(directory, entry))
                except OSError:
                    pass

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating at the cap; never raises (see the module doc)."""
        if self.lost:
            note = (b"\r\n--- hwdrivers: %d bytes of console output were not logged "
                    b"(%s) ---\r\n" % (self.lost, self.lost_reason.encode()))
            if self._attempt(note, 0) is not None:
                self.lost += len(data)
                return
            LOG.info("Console log %s: written again (%d bytes were lost)", self.path,
                     self.lost)
            self.lost, self.lost_reason = 0, None
        left = self._attempt(data, len(data))
        if left is not None:
            self.lost += left

    def _attempt(self, data, counted):
        """Write ``data``: None once written, else how many of its bytes count as lost."""
        try:
            self._write(data)
            return None
        except OSError as exc:
            if self._fd is not None:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = None  # open again at the next write: space may be back
            if not self.lost:
                self.lost_reason = exc.strerror or str(exc)
                LOG.warning("Console log %s cannot be written (%s): the console goes "
                            "on; its output is not logged until the log can be "
                            "written again", self.path, self.lost_reason)
            return counted

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            self._open()
        view = memoryview(data)
        while view:
            room = self.max_bytes - self._size
            if room <= 0:
                self._rotate()
                continue
            chunk = view[:room]
            written = os.write(self._fd, chunk)
            self._size += written
            view = view[written:]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def tail(path: str, nbytes: int, backups: int) -> bytes:
    """The last ``nbytes`` the console printed, across the rotated files."""
    parts = []
    wanted = nbytes
    for candidate in [path] + [_backup(path, n) for n in range(1, backups + 1)]:
        if wanted <= 0:
            break
        try:
            with open(candidate, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                start = max(0, size - wanted)
                handle.seek(start)
                block = handle.read(size - start)
        except FileNotFoundError:
            continue
        parts.append(block)
        wanted -= len(block)
    return b"".join(reversed(parts))
