"""The root device: which one (root-device hints), how big, and how to unboot it.

On a real ramdisk the disk is chosen from ``lsblk`` by Ironic's root-device
hints (``properties.root_device`` of the node, or ``--root-device-hints``);
in the machine simulator it is a disk image file given by path. Either way
the agent writes to it with plain ``os`` calls, never truncating or
growing it: a regular file keeps its size, as a disk would.
"""

import json
import operator
import os
import re
import stat
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from hwdrivers.agent import errors

MiB = 1024 * 1024
GiB = 1024 * MiB
#: with no hint, IPA takes the smallest disk of at least this size
MIN_DEFAULT_DEVICE_SIZE = 4 * GiB

LSBLK_COLUMNS = "NAME,SIZE,TYPE,SERIAL,WWN,MODEL,VENDOR,ROTA,HCTL,TRAN"
#: where the disks lsblk names are, and where udev links each by its bus address
DEV_DIR = "/dev"
BY_PATH_DIR = os.path.join(DEV_DIR, "disk", "by-path")
#: lsblk calls these "disk" but they are memory, never an install target
IGNORED_NAME_PREFIXES = ("zram", "ram")

#: Ironic's numeric operators (oslo.utils specs_matcher). ``=`` is "at least", as in
#: Nova's and Ironic's filters (their legacy meaning), not "equal": ``"= 100"`` copied
#: from an Ironic node picks a disk of 100 GiB or more.
_SIZE_OPS = {"==": operator.eq, "=": operator.ge, "!=": operator.ne, ">=": operator.ge,
             "<=": operator.le, ">": operator.gt, "<": operator.lt}
_SIZE_HINT = re.compile(r"^(==|=|!=|>=|<=|>|<)?\s*(\d+)$")
_SIZE_OR = re.compile(r"^(?:<or>\s*\d+\s*)+$")
_SIZE_RANGE = re.compile(r"^<range-in>\s*([\[(])\s*(\d+)\s+(\d+)\s*([\])])$")
_SIZE_SYNTAX = ("a positive number of GiB: 100, or with one of %s (\">= 100\"), "
                "\"<or> 480 <or> 960\" or \"<range-in> [100 500]\"" % " ".join(_SIZE_OPS))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip().lower()


def _match_name(device: dict, wanted: Any) -> bool:
    name = str(wanted)
    return device["name"] in (name, name.removeprefix("/dev/"))


def _size_test(wanted: Any) -> Callable[[int], bool]:
    """``size`` (GiB) as Ironic parses it: a test of a disk's whole GiB.

    ``100``, ``"> 100"``, ``"= 100"`` (at least), ``"<or> 480 <or> 960"``,
    ``"<range-in> [100 500)"`` (``[``/``]`` inclusive, ``(``/``)`` not).
    Anything else, or a size of 0 or less, raises DeviceNotFound.
    """
    text = "" if isinstance(wanted, bool) else str(wanted).strip()
    test: Callable[[int], bool] | None = None
    match = _SIZE_HINT.match(text)
    if match:
        op, number = _SIZE_OPS[match.group(1) or "=="], int(match.group(2))
        test = lambda gib: op(gib, number)  # noqa: E731
        numbers = [number]
    elif _SIZE_OR.match(text):
        numbers = [int(n) for n in re.findall(r"\d+", text)]
        test = lambda gib: gib in numbers  # noqa: E731
    elif _SIZE_RANGE.match(text):
        opening, low, high, closing = _SIZE_RANGE.match(text).groups()
        numbers = [int(low), int(high)]
        low_ok = operator.ge if opening == "[" else operator.gt
        high_ok = operator.le if closing == "]" else operator.lt
        if numbers[0] <= numbers[1]:
            test = lambda gib: low_ok(gib, numbers[0]) and high_ok(gib, numbers[1])  # noqa: E731
    if test is None or min(numbers) <= 0:
        raise errors.DeviceNotFound("root device hint 'size' must be %s; got %r"
                                    % (_SIZE_SYNTAX, wanted))
    return test


def _match_size(device: dict, wanted: Any) -> bool:
    return _size_test(wanted)(device["size"] // GiB)


#: Ironic's string operators (oslo.utils specs_matcher), longest first
_TEXT_OPS: dict[str, Callable[[str, str], bool]] = {
    "s==": operator.eq, "s!=": operator.ne, "s>=": operator.ge, "s<=": operator.le,
    "s>": operator.gt, "s<": operator.lt, "<in>": lambda have, want: want in have,
}


def _text_hint(have: str, wanted: str) -> bool:
    """``wanted`` as Ironic reads a string hint: a value, ``<op> value`` or ``<or>`` list.

    Without the operators, ``"<in> PERC"`` or ``"s== S2"`` copied from an
    Ironic node matched no disk, and the deploy failed "no disk matches".
    """
    if wanted.startswith("<or>"):
        return have in [choice.strip() for choice in wanted.split("<or>")[1:]]
    op = next((op for op in _TEXT_OPS if wanted.startswith(op)), None)
    if op is None:
        return have == wanted
    return _TEXT_OPS[op](have, wanted[len(op):].strip())


def _match_by_path(device: dict, wanted: Any) -> bool:
    """``by_path``: one of the disk's ``/dev/disk/by-path`` links (full path or name).

    The disk's bus address names one disk where identical models and sizes
    do not. The links are the record's own (:func:`list_disks` reads them on
    the machine being deployed); a record without any matches no such hint.
    """
    link = os.path.join(BY_PATH_DIR, str(wanted).strip())  # an absolute path stays itself
    return link in device.get("by_path", ())


def _match_text(column: str) -> Callable[[dict, Any], bool]:
    return lambda device, wanted: _text_hint(_text(device.get(column)), _text(wanted))


#: oslo.utils' strict boolean strings, which Ironic's ``rotational`` hint takes
_TRUE_WORDS = ("1", "t", "true", "on", "y", "yes")
_FALSE_WORDS = ("0", "f", "false", "off", "n", "no")


def _hint_bool(name: str, wanted: Any) -> bool:
    """A boolean hint as Ironic reads it (strict): ``"maybe"`` is an error, not false.

    Read leniently, any word but four meant "not rotational": ``"t"`` or
    ``"y"`` (true for Ironic) and typos chose an SSD for a disk hint that
    asked for a spinning one.
    """
    if isinstance(wanted, bool):
        return wanted
    word = str(wanted).strip().lower()
    if word in _TRUE_WORDS or word in _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise errors.DeviceNotFound(
        "root device hint %r must be a boolean (true or false); got %r" % (name, wanted))


def _match_bool(column: str) -> Callable[[dict, Any], bool]:
    def match(device: dict, wanted: Any) -> bool:
        return bool(device.get(column)) == _hint_bool("rotational", wanted)
    return match


#: root-device hint -> how it is matched against an lsblk device record
HINTS: dict[str, Callable[[dict, Any], bool]] = {
    "name": _match_name,
    "size": _match_size,
    "serial": _match_text("serial"),
    "wwn": _match_text("wwn"),
    "model": _match_text("model"),
    "vendor": _match_text("vendor"),
    "hctl": _match_text("hctl"),
    "tran": _match_text("tran"),
    "by_path": _match_by_path,
    "rotational": _match_bool("rota"),
}


def parse_lsblk(output: str) -> list[dict]:
    """Disk records from ``lsblk -J -b -d -o LSBLK_COLUMNS`` output."""
    devices = []
    for raw in json.loads(output).get("blockdevices", []):
        if raw.get("type") != "disk" or raw["name"].startswith(IGNORED_NAME_PREFIXES):
            continue
        rota = raw.get("rota")
        devices.append({
            "name": raw["name"], "size": int(raw.get("size") or 0),
            "serial": raw.get("serial"), "wwn": raw.get("wwn"), "model": raw.get("model"),
            "vendor": raw.get("vendor"), "hctl": raw.get("hctl"), "tran": raw.get("tran"),
            "rota": rota in (True, "1", 1),
        })
    return devices


def by_path_links() -> dict[str, list[str]]:
    """{disk name: its links in BY_PATH_DIR}, as udev made them (``../../sdb``)."""
    links: dict[str, list[str]] = {}
    try:
        names = sorted(os.listdir(BY_PATH_DIR))
    except OSError:  # no udev (a container): no by_path hint can match
        return links
    for name in names:
        link = os.path.join(BY_PATH_DIR, name)
        links.setdefault(os.path.basename(os.path.realpath(link)), []).append(link)
    return links


def list_disks() -> list[dict]:
    try:
        proc = subprocess.run(["lsblk", "-J", "-b", "-d", "-o", LSBLK_COLUMNS],
                              capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise errors.DeviceNotFound("tool missing: lsblk is not installed (Debian package "
                                    "util-linux); it is needed to find the root device")
    if proc.returncode != 0:
        raise errors.DeviceNotFound("lsblk failed: %s" % proc.stderr.strip())
    links = by_path_links()
    return [dict(d, by_path=links.get(d["name"], [])) for d in parse_lsblk(proc.stdout)]


#: hints whose value is a string expression (all but size and rotational)
STRING_HINTS = ("name", "serial", "wwn", "model", "vendor", "hctl", "tran", "by_path")


def hint_problems(hints: Any) -> list[str]:
    """What is wrong with root device ``hints`` as Ironic would parse them, no disk needed.

    The conductor asks this before a deploy powers the machine on (as
    Ironic's validate does), and :func:`choose_disk` before it matches: an
    unknown hint, a size that is no size, a rotational that is no boolean,
    a string hint given as a number or left empty.
    """
    if not isinstance(hints, dict):
        return ["root device hints must be a JSON object, not %s" % type(hints).__name__]
    unknown = sorted(set(hints) - set(HINTS))
    problems = []
    if unknown:
        problems.append("unknown root device hint(s) %s; supported: %s"
                        % (", ".join(unknown), ", ".join(sorted(HINTS))))
    for name, wanted in sorted(hints.items()):
        try:
            if name == "size":
                _size_test(wanted)
            elif name == "rotational":
                _hint_bool(name, wanted)
            elif name in STRING_HINTS and (not isinstance(wanted, str) or not wanted.strip()):
                problems.append("root device hint %r must be a non-empty string (quote "
                                "it: \"%s\"); got %r" % (name, wanted, wanted))
        except errors.DeviceNotFound as exc:
            problems.append(exc.details)
    return problems


def choose_disk(disks: Sequence[dict], hints: dict[str, Any]) -> dict:
    """The disk matching every hint (the smallest if several), IPA's way.

    With no hints: the smallest disk of at least 4 GiB.
    """
    problems = hint_problems(hints)
    if problems:
        raise errors.DeviceNotFound("; ".join(problems))
    if hints:
        found = [d for d in disks if all(HINTS[k](d, v) for k, v in hints.items())]
    else:
        found = [d for d in disks if d["size"] >= MIN_DEFAULT_DEVICE_SIZE]
    if not found:
        raise errors.DeviceNotFound(
            "no disk matches root device hints %s among: %s"
            % (json.dumps(hints, sort_keys=True),
               ", ".join("%s (%d GiB)" % (d["name"], d["size"] // GiB) for d in disks)
               or "no disks"))
    return min(found, key=lambda d: d["size"])


def resolve(path: str | None, hints: dict[str, Any]) -> str:
    """The root device's path: ``path`` when given (file or block device), else by hints."""
    if path:
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise errors.DeviceNotFound("root device %s: %s" % (path, exc.strerror))
        if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
            raise errors.DeviceNotFound("root device %s is neither a block device nor a "
                                        "disk image file" % path)
        return path
    return os.path.join(DEV_DIR, choose_disk(list_disks(), hints)["name"])


def size_of(path: str) -> int:
    """Bytes on the device (or the image file's current length)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def open_for_write(path: str) -> int:
    """A descriptor writing in place: no O_CREAT, no O_TRUNC."""
    return os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))


def make_unbootable(path: str, written: int = 0) -> None:
    """Zero what firmware and partitioning tools would boot or recover from.

    The first MiB (MBR boot code and signature, primary GPT), the last MiB
    of the device (a backup GPT), and the last MiB of what was written (the
    image's own backup GPT when the image is smaller than the disk).
    """
    size = size_of(path)
    regions = {(0, min(MiB, size)), (max(0, size - MiB), size)}
    if written:
        end = min(written, size)
        regions.add((max(0, end - MiB), end))
    zeros = bytes(MiB)
    fd = open_for_write(path)
    try:
        for start, end in sorted(regions):
            os.pwrite(fd, zeros[:end - start], start)
        os.fsync(fd)
    finally:
        os.close(fd)


def disk_identifier(path: str) -> str:
    """The MBR disk signature as IPA reports it for ``root uuid`` ("0x%08x")."""
    with open(path, "rb") as disk:
        disk.seek(440)
        raw = disk.read(4)
    return "0x%08x" % int.from_bytes(raw.ljust(4, b"\0"), "little")
