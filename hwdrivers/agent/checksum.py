"""Which hash to compute while an image streams, and what it must equal.

``image_info`` names the expected hash in one of IPA's ways: the
``os_hash_algo``/``os_hash_value`` pair (Glance's multihash), or the legacy
``checksum`` field whose length says the algorithm (64 hex digits: sha256,
128: sha512, 32: MD5, refused unless the operator allows MD5). Either value
may instead be an http(s) URL of a checksum file (``SHA256SUMS`` style,
BSD ``SHA256 (name) = hash`` style, or a file holding just the hash); the
line for the image's file name is used.
"""

import dataclasses
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from urllib import parse

from hwdrivers.agent import errors
from hwdrivers.agent.fetch import redact

#: hex digest length -> algorithm, for values given without os_hash_algo
ALGORITHM_BY_LENGTH = {64: "sha256", 128: "sha512", 96: "sha384", 32: "md5"}
_LENGTH_BY_ALGORITHM = {algo: length for length, algo in ALGORITHM_BY_LENGTH.items()}
#: algorithms accepted in os_hash_algo (md5 only when allowed)
ACCEPTED_ALGORITHMS = ("sha256", "sha384", "sha512", "md5")

#: a whole value of hex digits (fullmatch: ``$`` alone lets a final newline through,
#: and a digest with its line break could never match the image's)
_HEX = re.compile(r"[0-9a-fA-F]+")
_GNU_LINE = re.compile(r"^([0-9a-fA-F]{32,128})\s+[*]?(.+)$")
_BSD_LINE = re.compile(r"^[A-Za-z0-9-]+\s*\((.+)\)\s*=\s*([0-9a-fA-F]{32,128})$")

#: fetch(url) -> the checksum file's lines, as they arrive; raises ImageDownloadError
Fetcher = Callable[[str], Iterable[str]]


@dataclasses.dataclass(frozen=True)
class Expected:
    """The algorithm to hash with and the hex digest the image must have."""

    algorithm: str
    value: str
    source: str  # "os_hash_value", "checksum", or the checksum file's URL

    def new_hash(self) -> "hashlib._Hash":
        return hashlib.new(self.algorithm)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _algorithm(algo: object) -> object:
    """``os_hash_algo`` in lower case: Ironic passes on what the operator
    typed ("SHA256"), which names no other algorithm."""
    return algo.strip().lower() if isinstance(algo, str) else algo


def _md5_refused(field: str) -> errors.InvalidCommandParamsError:
    return errors.InvalidCommandParamsError(
        "image_info %s is an MD5 checksum, and MD5 is refused: give os_hash_algo and "
        "os_hash_value (sha256 or sha512), or start the agent with --allow-md5" % field)


def validate(image_info: object, allow_md5: bool) -> None:
    """Check ``image_info`` before anything runs (HTTP 400 from the command API).

    Every problem names the field and the fix; nothing is downloaded here.
    """
    if not isinstance(image_info, dict):
        raise errors.InvalidCommandParamsError("image_info must be a JSON object")
    for field in ("id", "urls"):
        if field not in image_info:
            raise errors.InvalidCommandParamsError("image_info is missing '%s'" % field)
    urls = image_info["urls"]
    if (not isinstance(urls, list) or not urls
            or not all(isinstance(u, str) and is_url(u) for u in urls)):
        raise errors.InvalidCommandParamsError(
            "image_info 'urls' must be a non-empty list of http(s) URLs")
    algo = _algorithm(image_info.get("os_hash_algo"))
    value = image_info.get("os_hash_value")
    checksum = image_info.get("checksum")
    if algo or value:
        if not isinstance(algo, str) or not algo:
            raise errors.InvalidCommandParamsError(
                "image_info 'os_hash_algo' must be a non-empty string (sha256, sha512)")
        if algo not in ACCEPTED_ALGORITHMS:
            raise errors.InvalidCommandParamsError(
                "image_info 'os_hash_algo' %r is not supported; use one of %s"
                % (algo, ", ".join(a for a in ACCEPTED_ALGORITHMS if a != "md5")))
        if algo == "md5" and not allow_md5:
            raise _md5_refused("os_hash_algo")
        if not isinstance(value, str) or not value:
            raise errors.InvalidCommandParamsError(
                "image_info 'os_hash_value' must be a non-empty string (a hex digest "
                "or the URL of a checksum file)")
        if not is_url(value) and not _HEX.fullmatch(value):
            raise errors.InvalidCommandParamsError(
                "image_info 'os_hash_value' is neither a hex digest nor an http(s) URL")
        return
    if checksum is None:
        raise errors.InvalidCommandParamsError(
            "image_info has no checksum: set 'os_hash_algo' and 'os_hash_value' "
            "(or 'checksum' with a sha256/sha512 digest or a checksum file URL)")
    if not isinstance(checksum, str) or not checksum:
        raise errors.InvalidCommandParamsError("image_info 'checksum' must be a non-empty "
                                               "string")
    if is_url(checksum):
        return
    if not _HEX.fullmatch(checksum) or len(checksum) not in ALGORITHM_BY_LENGTH:
        raise errors.InvalidCommandParamsError(
            "image_info 'checksum' is not a hex digest of a known length "
            "(64: sha256, 128: sha512) nor an http(s) URL")
    if len(checksum) == 32 and not allow_md5:
        raise _md5_refused("checksum")


def _entry(line: str) -> tuple[str, str] | None:
    """(digest, listed name) of a GNU (``hash  [*]name``) or BSD line, else None."""
    match = _GNU_LINE.match(line)
    if match:
        return match.group(1), match.group(2).strip()
    match = _BSD_LINE.match(line)
    if match:
        return match.group(2), match.group(1).strip()
    return None


def _names_image(listed: str, image_path: str) -> bool:
    """Whether a listed name is the image itself, not a namesake elsewhere.

    A bare name (``disk.raw``, ``./disk.raw``) is the image's file name; a
    path (``2024-02/disk.raw``) must be where the image URL's path ends.
    """
    listed = listed.removeprefix("./")
    return "/" not in listed or ("/" + image_path.lstrip("/")).endswith("/" + listed)


def parse_checksum_file(text: str, filename: str, length: int | None = None) -> str | None:
    """:func:`find_digest` over a checksum file's whole text."""
    return find_digest(text.splitlines(), filename, length)


def find_digest(lines: Iterable[str], filename: str, length: int | None = None) -> str | None:
    """The hex digest for the image among a checksum file's lines, or None.

    ``filename`` is the image URL's path (or only its file name). A file
    holding a single bare digest applies to any name. ``length`` (the
    digest length of ``os_hash_algo``) skips other algorithms' lines, so a
    file listing the image under SHA512 and SHA256 serves either. Lines for
    the same file name in other directories count only when there is one:
    two could name two different images, and a guess would fail as a
    checksum mismatch after the whole download.

    The lines are read once, as they come (a mirror's file may list a
    whole tree): the first line naming the image ends the search, and
    only its namesakes are kept (two at most, enough to tell "one" from
    "several").
    """
    base = os.path.basename(filename)
    seen = 0
    bare = None
    namesakes: list[str] = []
    for line in lines:
        line = line.strip() if seen else line.lstrip("\ufeff").strip()
        if not line:
            continue
        seen += 1
        bare = line if seen == 1 and _HEX.fullmatch(line) else None
        entry = _entry(line)
        if (entry is None or (length is not None and len(entry[0]) != length)
                or os.path.basename(entry[1]) != base):
            continue
        if _names_image(entry[1], filename):
            return entry[0]
        namesakes = (namesakes + [entry[0]])[:2]
    if bare is not None:
        return bare
    return namesakes[0] if len(namesakes) == 1 else None


def resolve(image_info: dict, allow_md5: bool, fetch: Fetcher) -> Expected:
    """The :class:`Expected` digest for a validated ``image_info``.

    Fetches the checksum file when the value is a URL; the algorithm is
    ``os_hash_algo`` when given, else read from the digest's length.
    """
    algo = _algorithm(image_info.get("os_hash_algo"))
    field = "os_hash_value" if algo else "checksum"
    value = image_info[field]
    source = field
    if is_url(value):
        path = parse.unquote(parse.urlparse(image_info["urls"][0]).path)
        filename = os.path.basename(path)
        found = find_digest(fetch(value), path, _LENGTH_BY_ALGORITHM.get(algo))
        if found is None:
            raise errors.ImageDownloadError(
                image_info["id"], "checksum file %s has no line for %s"
                % (redact(value), filename), retryable=False)
        value, source = found, redact(value)
    value = value.lower()
    by_length = ALGORITHM_BY_LENGTH.get(len(value))
    if algo is None:
        if by_length is None:
            raise errors.ImageDownloadError(
                image_info["id"], "cannot tell the algorithm of a %d-digit checksum; set "
                "os_hash_algo" % len(value), retryable=False)
        algo = by_length
    elif by_length != algo:
        raise errors.ImageDownloadError(
            image_info["id"], "os_hash_algo is %s but the expected value (from %s) has %d "
            "hex digits" % (algo, source, len(value)), retryable=False)
    if algo == "md5" and not allow_md5:
        raise _md5_refused(field)
    return Expected(algorithm=algo, value=value, source=source)

