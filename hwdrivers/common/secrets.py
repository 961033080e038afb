"""driver_info secrets at rest: encrypted with Fernet keys from a key file.

A copied database file or backup must not leak BMC passwords, so every
driver_info field a driver *declares* secret (the same declarations that
mask it in output) is stored as ``{"$fernet": "<token>"}``: Fernet
(AES-128-CBC + HMAC-SHA256, from ``cryptography``) over the JSON of the
value, so its type survives. Which names are secret is published by the
driver registry through :func:`declare_secret_fields`; the database layer
seals those names on write and opens every envelope on read, so the API,
the CLI and drivers see the plain values they always saw.

The key file (``[secrets] key_file``) holds one Fernet key per line, the
newest first; ``#`` lines are comments. The first key encrypts, every key
decrypts (``MultiFernet``), which is what rotation needs: add a key on top,
re-encrypt the rows (``hwdrivers-dbsync reencrypt-secrets``), then drop the
old key. The file is created with mode 0600 the first time a key is needed,
and refused when group or others may read or write it (as ssh does for its
keys), so a key readable by everyone is never mistaken for a protected one.

Opening is cheap where it matters: a row without envelopes costs one pass
over its driver_info values, and decrypted tokens are kept in a bounded
cache (a token is random per write, so it is its own cache key), so reading
the same node again costs a dict lookup, not an HMAC and an AES pass.
"""

import errno
import json
import logging
import os
import stat
import threading
import time
import weakref

from hwdrivers.common import exception

LOG = logging.getLogger(__name__)

#: The key of the one-entry object that stands for an encrypted value.
ENVELOPE = "$fernet"
#: Decrypted tokens remembered per key ring (oldest out).
CACHE_SIZE = 4096
#: Seconds between two looks (one stat) at the key file for a rotated key.
RELOAD_INTERVAL = 1.0
OPTION = "[secrets] key_file"


class KeyFileError(exception.ConfigInvalid):
    """The key file is missing, unreadable, too open or malformed."""

    fmt = "%(reason)s"

    def __init__(self, message):
        super().__init__(message, option=OPTION)


class SecretUnreadable(exception.HWDriversError):
    """A stored secret cannot be decrypted with the keys at hand."""

    fmt = "%(reason)s"
    code = 503


def _fernet():
    """``cryptography.fernet``, imported when a key is first needed (20 ms)."""
    from cryptography import fernet

    return fernet


def is_sealed(value: object) -> bool:
    """True for an encrypted-value envelope as stored in driver_info."""
    return type(value) is dict and ENVELOPE in value


# -- which fields are secret --------------------------------------------------------

_declared_lock = threading.Lock()
_declared: frozenset = frozenset()
_dynamic: list = []


def declare_secret_fields(names, per_node=None) -> None:
    """Record field names declared secret, and optionally a per-node source.

    ``per_node(driver_info)`` returns names that depend on the node (an
    external driver's executable declares its own); it is held weakly so a
    discarded registry does not stay alive. Names accumulate: sealing a
    field some other configuration calls secret costs nothing visible.
    """
    global _declared
    with _declared_lock:
        _declared = _declared | frozenset(names)
        if per_node is not None:
            ref = (weakref.WeakMethod(per_node) if hasattr(per_node, "__self__")
                   else (lambda fn=per_node: fn))
            _dynamic[:] = [r for r in _dynamic if r() is not None] + [ref]


def secret_fields(driver_info: dict) -> frozenset:
    """The keys of ``driver_info`` that are declared secret."""
    names = _declared
    for ref in list(_dynamic):
        source = ref()
        if source is not None:
            names = names | frozenset(source(driver_info))
    return names & frozenset(driver_info)


# -- the key file -------------------------------------------------------------------

def _check_mode(path: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError("%s %s is not a regular file" % (OPTION, path))
    if info.st_mode & 0o077:
        raise KeyFileError(
            "%s %s may be read or written by group or others (mode %04o); "
            "it holds the keys of every stored BMC password: chmod 600 %s"
            % (OPTION, path, stat.S_IMODE(info.st_mode), path))


def parse_keys(text: str, path: str, allow_empty: bool = False) -> list:
    """The keys (bytes) in ``text``, newest first; KeyFileError otherwise.

    ``allow_empty``: a file holding no key (created empty, truncated) gives
    ``[]`` instead of an error, for the one command that fixes it.
    """
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            _fernet().Fernet(line.encode("ascii"))  # checks length and alphabet
            keys.append(line.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            # Never echo the line: it may be a real key with a typo.
            raise KeyFileError(
                "%s %s line %d is not a Fernet key (44 characters of url-safe "
                "base64); generate one with 'hwdrivers-dbsync add-secrets-key'"
                % (OPTION, path, number)) from None
    if not keys and not allow_empty:
        raise KeyFileError("%s %s holds no key; add one with 'hwdrivers-dbsync "
                           "add-secrets-key'" % (OPTION, path))
    return keys


def _require_path(path: str) -> None:
    """KeyFileError for ``key_file =`` left empty in a config file.

    An empty path read as "does not exist, but the database holds encrypted
    secrets" (whatever the database held) and failed to write a temporary
    file in the current directory: neither said the option was blank.
    """
    if not path or not path.strip():
        raise KeyFileError(
            "%s is empty: set it to the path of the key file, or remove the line to "
            "use the default ($state_path/secrets.key)" % OPTION)


def read_key_file(path: str, allow_empty: bool = False) -> list:
    """The keys of ``path`` (newest first), after checking its mode."""
    _require_path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise KeyFileError(
            "%s %s does not exist, but the database holds encrypted secrets: "
            "restore the key file they were encrypted with (or, if it is lost, run "
            "'hwdrivers-dbsync reencrypt-secrets --forget-unreadable' and set them "
            "again)" % (OPTION, path)) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            # O_NOFOLLOW's refusal reads "Too many levels of symbolic links"
            # for a single link, which tells nobody what to change.
            raise KeyFileError(
                "%s %s is a symbolic link (to %s), which hwdrivers does not follow: "
                "the key file's mode is checked on the file itself. Set %s to the "
                "path of the file it points to" % (OPTION, path, os.path.realpath(path),
                                                   OPTION)) from None
        raise KeyFileError("%s %s cannot be read: %s; it must be readable by the "
                           "user hwdrivers runs as, and by nobody else (mode 0600)"
                           % (OPTION, path, exc.strerror or exc)) from None
    try:
        _check_mode(path, os.fstat(fd))
        # utf-8-sig: a byte order mark an editor put first is not line 1's
        with os.fdopen(fd, encoding="utf-8-sig", errors="replace",
                       closefd=False) as handle:
            return parse_keys(handle.read(), path, allow_empty=allow_empty)
    finally:
        os.close(fd)


_HEADER = ("# hwdrivers driver_info secrets: Fernet keys, newest first. The first\n"
           "# encrypts, all decrypt: keep an old key until 'hwdrivers-dbsync\n"
           "# reencrypt-secrets' has run with the new one on top.\n")


def write_key_file(path: str, keys: list, exclusive: bool = False) -> None:
    """Write ``keys`` (bytes, newest first) to ``path`` with mode 0600.

    The file is written whole under a temporary name first, so no process
    ever reads half of it. ``exclusive``: it is then linked into place,
    FileExistsError if ``path`` exists (services starting at once on one
    shared key file must not each make a key); otherwise it replaces ``path``.
    """
    _require_path(path)
    temp = "%s.%d.%d.tmp" % (path, os.getpid(), threading.get_ident())
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(_HEADER + "".join(k.decode("ascii") + "\n" for k in keys))
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(temp, path)
            except FileExistsError:
                exists = True  # another process made it first: the caller's signal
            else:
                exists = False
        else:
            os.replace(temp, path)
    except FileExistsError as exc:  # makedirs: a file where a directory must be
        raise _unwritable(path, "%s is not a directory" % exc.filename) from None
    except OSError as exc:
        # Not the database's fault (the callers' catch-all for OSError said
        # so): a full disk, a read-only or missing directory.
        raise _unwritable(path, "%s%s" % (exc.strerror or exc, (
            ": %s" % exc.filename) if exc.filename else "")) from None
    finally:
        try:
            os.unlink(temp)
        except OSError:
            pass
    if exclusive and exists:
        raise FileExistsError(path)


def _unwritable(path, why):
    return KeyFileError(
        "%s %s cannot be written: %s; the file is as it was. Make its directory "
        "writable by the user hwdrivers runs as (or point %s elsewhere) and run "
        "again" % (OPTION, path, why, OPTION))


def add_key(path: str) -> int:
    """Put a new key first in ``path`` (created if absent); returns how many it holds.

    A file holding no key (created with ``touch``, emptied) gets its first
    one: every refusal of such a file says to run ``add-secrets-key``, so
    that command must not refuse it too. Whether the database needs the
    lost keys is the caller's question (hwdrivers-dbsync asks it).
    """
    old = read_key_file(path, allow_empty=True) if os.path.lexists(path) else []
    write_key_file(path, [_fernet().Fernet.generate_key()] + old)
    return len(old) + 1


# -- the key ring ---------------------------------------------------------------------

class Keyring:
    """The keys of one key file: seal and open driver_info values."""

    def __init__(self, path: str, create: bool = False):
        self.path = path
        if create and not os.path.lexists(path):
            try:
                write_key_file(path, [_fernet().Fernet.generate_key()], exclusive=True)
                LOG.warning("Generated a new secrets key file %s (mode 0600): back it "
                            "up apart from the database, which is useless without it",
                            path)
            except FileExistsError:
                pass  # another process created it first: use theirs
        self._lock = threading.Lock()
        self._load()
        self._next_reload = 0.0

    def _load(self):
        keys = [_fernet().Fernet(key) for key in read_key_file(self.path)]
        info = os.stat(self.path)
        with self._lock:
            self._multi = _fernet().MultiFernet(keys)
            self._newest = keys[0]
            self._count = len(keys)
            self._signature = (info.st_mtime_ns, info.st_size, info.st_ino)
            self._cache = {}

    @property
    def key_count(self) -> int:
        return self._count

    def _remember(self, token: str, value: object) -> None:
        with self._lock:
            self._cache[token] = value
            while len(self._cache) > CACHE_SIZE:  # oldest first out
                del self._cache[next(iter(self._cache))]

    def seal(self, value: object) -> dict:
        """The envelope storing ``value`` (any JSON value) under the newest key.

        The key file is looked at (one stat, at most once a second) first, so
        a key added by a rotation encrypts within a second in every process.
        """
        self._reloaded()
        token = self._multi.encrypt(json.dumps(value).encode("utf-8")).decode("ascii")
        self._remember(token, value)
        return {ENVELOPE: token}

    def open(self, envelope: dict, field: str, node: object) -> object:
        """The value sealed in ``envelope``; SecretUnreadable naming ``field``."""
        token = envelope.get(ENVELOPE)
        try:
            return self._cache[token]  # one dict lookup: atomic, no lock needed
        except (KeyError, TypeError):
            pass
        if not isinstance(token, str):
            raise self._unreadable(field, node, "the stored value is not a token")
        try:
            value = json.loads(self._multi.decrypt(token.encode("ascii")))
        except (_fernet().InvalidToken, UnicodeEncodeError, ValueError):
            if not self._reloaded():
                raise self._unreadable(field, node, "it was encrypted with a key that "
                                       "is not in the key file") from None
            return self.open(envelope, field, node)
        self._remember(token, value)
        return value

    def is_current(self, envelope: dict) -> bool:
        """True when ``envelope`` was sealed with the newest key."""
        try:
            self._newest.decrypt(envelope[ENVELOPE].encode("ascii"))
            return True
        except (_fernet().InvalidToken, KeyError, AttributeError, UnicodeEncodeError):
            return False

    def _reloaded(self) -> bool:
        """Reload the key file if it changed (a rotation); at most one stat a second.

        True when new keys were loaded. A broken edit keeps the keys in use
        (and says so in the log), as the htpasswd reload of the API does.
        """
        now = time.monotonic()
        if now < self._next_reload:
            return False
        self._next_reload = now + RELOAD_INTERVAL
        try:
            info = os.stat(self.path)
        except OSError:
            return False
        if (info.st_mtime_ns, info.st_size, info.st_ino) == self._signature:
            return False
        try:
            self._load()
        except KeyFileError as exc:
            LOG.error("Keeping the previous secrets keys: %s", exc)
            return False
        LOG.info("Reloaded %d secrets key(s) from %s", self._count, self.path)
        return True

    def _unreadable(self, field, node, why):
        return SecretUnreadable(
            "Node %s: driver_info field %s cannot be decrypted with the keys in %s "
            "(%s). Put back the key it was encrypted with (older keys go below the "
            "newest one), or, if that key is lost, run 'hwdrivers-dbsync "
            "reencrypt-secrets --forget-unreadable' and set the field again."
            % (node, field, self.path, why))


_rings: dict = {}
_rings_lock = threading.Lock()


def keyring(path: str, create: bool = False) -> Keyring:
    """The process's key ring for ``path``, loaded once (``create``: make the file)."""
    ring = _rings.get(path)
    if ring is None:
        with _rings_lock:
            ring = _rings.get(path)
            if ring is None:
                ring = _rings[path] = Keyring(path, create=create)
    return ring


def is_loaded(path: str) -> bool:
    """True when this process has loaded the key ring of ``path`` already."""
    return path in _rings


def forget_keyrings() -> None:
    """Drop loaded key rings (the key file was replaced; between tests)."""
    with _rings_lock:
        _rings.clear()


# -- driver_info ----------------------------------------------------------------------

def seal_fields(driver_info: dict, ring_for) -> dict:
    """A copy of ``driver_info`` with its declared secrets sealed.

    ``ring_for()`` gives the key ring; it is only called when there is
    something to seal. Empty values stay as they are: there is nothing to
    hide, and masking shows them as they are too.
    """
    names = secret_fields(driver_info) if driver_info else ()
    sealed = dict(driver_info or {})
    for key, value in sealed.items():
        if is_sealed(value):
            raise exception.InvalidParameterValue(
                errors=["driver_info field %s: objects with a %r key are reserved for "
                        "encrypted values" % (key, ENVELOPE)])
    ring = None
    for key in names:
        value = sealed[key]
        if value is None or value == "":
            continue
        if ring is None:
            ring = ring_for()
        sealed[key] = ring.seal(value)
    return sealed


_RAISE = object()


def open_fields(driver_info: dict, ring_for, node: object, unreadable=_RAISE) -> dict:
    """``driver_info`` with every envelope opened (the same dict if none).

    SecretUnreadable for a value the keys at hand cannot open; or, given
    ``unreadable``, that value in its place (a listing shows secrets
    masked anyway, and one node whose key was lost must not fail the
    listing of all the others).
    """
    for value in driver_info.values():
        if type(value) is dict and ENVELOPE in value:
            break
    else:
        return driver_info
    try:
        ring = ring_for()
    except KeyFileError as exc:  # a row cannot be read: say which, and why
        if unreadable is not _RAISE:
            return {key: (unreadable if type(value) is dict and ENVELOPE in value else value)
                    for key, value in driver_info.items()}
        raise SecretUnreadable("Node %s: its driver_info secrets cannot be decrypted: "
                               "%s" % (node, exc)) from None

    def opened(key, value):
        try:
            return ring.open(value, key, node)
        except SecretUnreadable:
            if unreadable is _RAISE:
                raise
            return unreadable

    return {key: (opened(key, value) if type(value) is dict and ENVELOPE in value else value)
            for key, value in driver_info.items()}
