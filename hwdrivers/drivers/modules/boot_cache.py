"""Deploy kernels, ramdisks and EFI images downloaded once per conductor, not per node.

A virtual-media deploy builds its node's ISO from the deploy kernel and
ramdisk, usually given as URLs. Downloaded per build, a fleet of 1,000
nodes fetched the same few-hundred-megabyte ramdisk 1,000 times, and every
retried deploy fetched it again. Here each URL is downloaded once into
``<state_path>/boot_cache`` (never under ``http_root``, which the boot HTTP
server publishes: the URL's credentials may protect the file) and checked
again on each later use with a conditional request (``If-None-Match``,
``If-Modified-Since``): a 304 costs one round trip, and a file replaced
behind the same URL is downloaded again, so the next deploy boots the
operator's new ramdisk. A server that sends neither ``ETag`` nor
``Last-Modified`` cannot be asked whether the file changed: its files are
downloaded on every use, as before.

Files unused for ``[deploy] boot_file_cache_ttl`` seconds are removed when
the cache is next used (0 turns the cache off), and the least recently used
while it holds more than ``[deploy] boot_file_cache_size`` MiB: nodes given
URLs of their own (signed temporary URLs) would otherwise keep a ramdisk
each for the whole TTL. One lock per URL (a thread
lock and ``flock``, for conductors sharing a state path) makes concurrent
deploys of the same image wait for one download instead of each starting
its own; different URLs download in parallel.

The caller reads a returned file at once (an ISO build opens it before
writing): a newer version replacing it meanwhile is a rename, so a file
already open keeps its content.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time

from hwdrivers.conf import CONF

#: Where downloads are kept, under [DEFAULT] state_path.
DIRECTORY = "boot_cache"
_CHUNK = 1024 * 1024

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class Unusable(OSError):
    """The cache directory cannot be used (a file in its place, no space,
    no permission): this conductor's to fix, not the server's, and no retry
    of the download helps."""


def _unusable(exc: OSError) -> Unusable:
    return Unusable(exc.errno, "the boot file cache %s cannot be used (%s)"
                    % (directory(), exc.strerror or exc))


def enabled() -> bool:
    return CONF.deploy.boot_file_cache_ttl > 0


def directory() -> str:
    return os.path.join(CONF.state_path, DIRECTORY)


def _paths(name: str) -> tuple[str, str, str]:
    """(data, validators, lock) files of the entry ``name`` (a URL's SHA-256)."""
    base = os.path.join(directory(), name)
    return base, base + ".json", base + ".lock"


def _still_linked(handle, lock_path: str) -> bool:
    """Whether the locked ``handle`` is still the file at ``lock_path``: an
    entry's sweep deletes its lock file too, so a lock taken on the file it
    just unlinked protects nothing (the next taker makes a new one)."""
    try:
        return os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _locked(lock_path: str):
    with _locks_guard:
        lock = _locks.setdefault(lock_path, threading.Lock())
    with lock:
        while True:
            try:
                handle = open(lock_path, "a")
            except OSError as exc:
                raise _unusable(exc) from None
            fcntl.flock(handle, fcntl.LOCK_EX)
            if _still_linked(handle, lock_path):
                break
            handle.close()  # swept meanwhile: lock the file that is there now
        with handle:
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def download(request, target: str, timeout: float):
    """Write the body of ``request`` to ``target`` (via ``target.part``); the response.

    OSError when the server sent fewer bytes than it announced: urllib ends
    a body cut short without an error, and a truncated ramdisk made a
    machine panic at boot. ``urllib.error.HTTPError`` for an error status
    (304 included); what urlopen raises otherwise. Redirects are followed
    to http(s) only, as the agent follows them: urlopen alone followed one
    to ``ftp://``, connecting the conductor where the server chose (and
    logging in there as anonymous).
    """
    import urllib.request  # here: loading the driver (every CLI command) needs no HTTP client

    from hwdrivers.agent import fetch

    opener = urllib.request.build_opener(fetch.HTTPRedirectsOnly)
    part = target + ".part"
    try:
        with opener.open(request, timeout=timeout) as resp, \
                open(part, "wb") as out:
            shutil.copyfileobj(resp, out, _CHUNK)
            expected, got = resp.headers.get("Content-Length"), out.tell()
        if expected is not None and expected.isdigit() and int(expected) != got:
            raise OSError("the server sent %d of the %s bytes it announced" % (got, expected))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
        raise
    os.replace(part, target)
    return resp


def get(url: str, request, timeout: float, shown_url: str) -> str:
    """A local file holding the body of ``request``, a GET of ``url``, from the cache.

    ``url`` as given (credentials included: files fetched with different
    ones are kept apart); ``shown_url``, without them, is kept beside the
    file for an operator looking at the cache. Raises what
    :func:`download` raises, and :class:`Unusable` when the cache
    directory cannot be made or its lock file opened.
    """
    import urllib.error

    try:
        os.makedirs(directory(), mode=0o700, exist_ok=True)
        if os.stat(directory()).st_mode & 0o077:  # made by hand, or by an older tree
            os.chmod(directory(), 0o700)
    except OSError as exc:
        raise _unusable(exc) from None
    data, validators, lock = _paths(hashlib.sha256(url.encode()).hexdigest())
    with _locked(lock):
        known = _read_validators(validators) if os.path.isfile(data) else {}
        if known.get("etag"):
            request.add_header("If-None-Match", known["etag"])
        if known.get("last_modified"):
            request.add_header("If-Modified-Since", known["last_modified"])
        try:
            resp = download(request, data, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 304 or not known:
                raise
            exc.close()
            os.utime(data)  # used: not swept
        else:
            _write_validators(validators, resp.headers, shown_url)
    sweep(keep=os.path.basename(data))
    return data


def _read_validators(path: str) -> dict:
    try:
        with open(path) as handle:
            found = json.load(handle)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_validators(path: str, headers, shown_url: str) -> None:
    """What a later request asks the server with; none: the file is not reusable."""
    found = {"etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")}
    if not any(found.values()):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    found["url"] = shown_url
    with open(path + ".part", "w") as handle:
        json.dump(found, handle)
    os.replace(path + ".part", path)


def sweep(now: float | None = None, keep: str | None = None) -> list[str]:
    """Remove files unused for ``[deploy] boot_file_cache_ttl``, then, while the
    cache holds more than ``[deploy] boot_file_cache_size`` MiB, the least
    recently used; returns the names removed.

    ``keep``: an entry never removed for size (the one just handed out).
    A file being downloaded or checked (its lock held) is left alone, and
    one used between the listing and the lock (its time changed: a build
    was handed its path) is kept.
    """
    now = time.time() if now is None else now
    ttl = CONF.deploy.boot_file_cache_ttl
    limit = CONF.deploy.boot_file_cache_size * 1024 * 1024
    try:
        names = os.listdir(directory())
    except FileNotFoundError:
        return []
    entries = []
    for name in names:
        if len(name) == 64 and "." not in name:
            with contextlib.suppress(FileNotFoundError):
                found = os.stat(_paths(name)[0])
                entries.append((found.st_mtime, found.st_size, name))
    entries.sort()  # least recently used first
    total = sum(size for _, size, _ in entries)
    removed = []
    for used, size, name in entries:
        expired = now - used > ttl
        too_much = limit and total > limit and name != keep
        if (expired or too_much) and _remove(name, used):
            removed.append(name)
            total -= size
    return removed


def _remove(name: str, used: float) -> bool:
    """Delete entry ``name`` if nobody holds it and it was not used since ``used``."""
    data, validators, lock = _paths(name)
    try:
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if not _still_linked(handle, lock) or os.stat(data).st_mtime != used:
                return False
            for path in (data, validators, lock):  # lock files do not pile up
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        with _locks_guard:
            _locks.pop(lock, None)
        return True
    except (BlockingIOError, FileNotFoundError):
        return False
