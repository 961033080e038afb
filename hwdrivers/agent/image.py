"""Download an image and write it to the root device, hashing as it streams.

Raw images go from the socket to the device one chunk at a time (one
reused buffer: memory stays flat whatever the image size) while the hash
is updated; the digest is compared when the last byte is written. A qcow2
image cannot be converted from a pipe (``qemu-img`` needs to seek), so it
is downloaded to a temporary file first (hashed on the way), checked
(format, no backing file, virtual size fits the disk) and converted onto
the device with ``qemu-img convert -n``. The format comes from
``image_info['disk_format']`` and is checked against the image's first
bytes; a mismatch is refused before anything is written.

A broken download (connection reset, timeout, 5xx, a body shorter than its
Content-Length) or a checksum mismatch (bytes corrupted in transit) is
retried from the start, up to ``retries`` more times, as IPA does; a 4xx
or a write error is not. After a mismatch a checksum file is read again
(a mirror may have been mid-sync). After any failure the device is made
unbootable (see ``disk.make_unbootable``).

A raw image's first chunk (the boot code and partition table) is written
last, once the whole image is on the device and its checksum verified;
before streaming, the device's first and last MiB are zeroed. So an agent
killed in the middle of a write (a deploy timeout, an abort, a power
loss) leaves a disk no firmware boots, not half an image that looks whole.
"""

import dataclasses
import http.client
import json
import logging
import os
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator

from hwdrivers.agent import checksum
from hwdrivers.agent import disk
from hwdrivers.agent import errors
from hwdrivers.agent import fetch
from hwdrivers.agent import pipeline

LOG = logging.getLogger(__name__)

QCOW2_MAGIC = b"QFI\xfb"
#: disk_format -> how the image reaches the device
SUPPORTED_FORMATS = ("raw", "qcow2")
#: a checksum file is searched as it streams (memory: one line); this bounds the
#: time: a mirror's file for a whole tree (~500,000 sha256 lines), not an endless body
CHECKSUM_FILE_LIMIT = 64 * 1024 * 1024
#: longer lines are no checksum line (a digest, two spaces, a path of at most 4096)
CHECKSUM_LINE_LIMIT = 8 * 1024
#: chunks in flight between receive, hash and write (memory: this x chunk_size)
PIPELINE_BUFFERS = 4


@dataclasses.dataclass(frozen=True)
class WriteOptions:
    http: fetch.HTTPOptions = fetch.HTTPOptions()
    allow_md5: bool = False
    retries: int = 3                 # further attempts after a broken download
    retry_interval: float = 5.0      # seconds between attempts
    chunk_size: int = 1024 * 1024
    tmp_dir: str | None = None       # where a qcow2 image is staged
    qemu_img: str = "qemu-img"


@dataclasses.dataclass
class Outcome:
    disk_format: str
    bytes_downloaded: int
    bytes_written: int
    seconds: float
    attempts: int
    algorithm: str
    digest: str


#: (offset, magic, format) of the image containers an image store may hold;
#: anything else (an MBR, a GPT, an ISO) is a raw disk
FORMAT_MAGIC = (
    (0, QCOW2_MAGIC, "qcow2"),
    (0, b"KDMV", "vmdk"),
    (0, b"# Disk DescriptorFile", "vmdk"),
    (0, b"vhdxfile", "vhdx"),
    (0, b"conectix", "vhd"),
    (0x40, b"\x7f\x10\xda\xbe", "vdi"),
    (0, b"QED\x00", "qed"),
    (0, b"LUKS\xba\xbe", "luks"),
    # a compressed file (disk.raw.xz, as some distributions publish raw images)
    (0, b"\x1f\x8b\x08", "gzip"),  # with deflate: 2 bytes alone come up in random data
    (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (0, b"BZh", "bzip2"),
)
#: detect_format names of compressed files: the fix is to decompress, not convert
COMPRESSIONS = ("gzip", "xz", "zstd", "bzip2")
#: qcow2 header: version, backing file offset; v3 incompatible features
_QCOW2_HEADER = struct.Struct(">4sIQ")
_QCOW2_INCOMPATIBLE = _QCOW2_SIZE = struct.Struct(">Q")
_QCOW2_EXTERNAL_DATA_FILE = 1 << 2
_QCOW2_V2_HEADER_LENGTH = 72  # every field read here lies within it (v3: 104)


def detect_format(head: bytes) -> str:
    """The container format the image's first bytes say it is ("raw" for none)."""
    return next((name for offset, magic, name in FORMAT_MAGIC
                 if head[offset:offset + len(magic)] == magic), "raw")


def _unsupported(image_id: str, detected: str) -> errors.ImageWriteError:
    """A vmdk, vhd, disk.raw.xz... written as raw would leave a disk that boots nothing."""
    if detected in COMPRESSIONS:
        return errors.ImageWriteError(
            "image %s is %s-compressed; the agent writes raw and qcow2 images as they are "
            "served: publish it decompressed, with the checksum of that file; nothing was "
            "written" % (image_id, detected))
    return errors.ImageWriteError(
        "image %s is a %s image; the agent writes raw and qcow2 images only: convert it "
        "(qemu-img convert -O raw or -O qcow2), publish that with its checksum and set "
        "image_disk_format; nothing was written" % (image_id, detected))


def qcow2_header_refusal(head: bytes) -> str | None:
    """Why a qcow2 header is unsafe to hand to qemu-img, read from its first bytes.

    A backing file or an external data file names a file (or a json: spec)
    that qemu-img would open in the ramdisk. Refused from the header, before
    the image is staged: no download of the rest, no qemu-img on it at all.
    """
    if len(head) < _QCOW2_V2_HEADER_LENGTH:
        return "its qcow2 header is truncated (%d bytes)" % len(head)
    _magic, version, backing_offset = _QCOW2_HEADER.unpack_from(head)
    if backing_offset:
        return "it is a qcow2 with a backing file"
    if version >= 3 and len(head) >= 80:
        (incompatible,) = _QCOW2_INCOMPATIBLE.unpack_from(head, 72)
        if incompatible & _QCOW2_EXTERNAL_DATA_FILE:
            return "it is a qcow2 with an external data file"
    return None


def qcow2_virtual_size(head: bytes) -> int:
    """The disk size a qcow2 header declares (bytes 24-31), checked before staging."""
    return _QCOW2_SIZE.unpack_from(head, 24)[0]


def _declared_format(image_info: dict) -> str | None:
    declared = image_info.get("disk_format")
    if declared is not None and declared not in SUPPORTED_FORMATS:
        raise errors.ImageWriteError(
            "image_info disk_format %r is not supported; the agent writes %s images"
            % (declared, " and ".join(SUPPORTED_FORMATS)))
    return declared


def _read_into(response: http.client.HTTPResponse, view: memoryview, image_id: str,
               url: str) -> int:
    try:
        return response.readinto(view)
    except (OSError, http.client.HTTPException) as exc:
        raise errors.ImageDownloadError(
            image_id, "reading %s failed: %s" % (fetch.redact(url), exc or type(exc).__name__))


class _Attempt:
    """One download of the image from its first URL that answers."""

    def __init__(self, image_info: dict, device: str, disk_size: int,
                 expected: checksum.Expected, options: WriteOptions) -> None:
        self.info = image_info
        self.id = str(image_info["id"])
        self.device = device
        self.disk_size = disk_size
        self.expected = expected
        self.options = options
        self.written = 0      # bytes written to the device by this attempt
        self.downloaded = 0
        self.disk_format = "raw"

    def _open(self) -> tuple[http.client.HTTPResponse, str]:
        failure = None
        for url in self.info["urls"]:
            try:
                return fetch.open_url(url, self.options.http, self.id), url
            except errors.ImageDownloadError as exc:
                LOG.warning("image %s: %s", self.id, exc.details)
                failure = exc
        raise failure

    def run(self) -> None:
        response, url = self._open()
        try:
            self._run(response, url)
        finally:
            response.close()

    def _run(self, response: http.client.HTTPResponse, url: str) -> None:
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        buf = bytearray(self.options.chunk_size)
        # Fill the first chunk (or up to EOF) to see the format before writing.
        filled = self._fill(response, url, buf)
        if not filled and not length:  # a body cut short of its length is retried below
            raise errors.ImageWriteError(
                "image %s at %s is empty (0 bytes): its checksum may match, but a node "
                "would be reported active on a blank disk; publish the image again (an "
                "interrupted upload?)" % (self.id, fetch.redact(url)))
        declared = _declared_format(self.info)
        detected = detect_format(bytes(buf[:filled]))
        if detected not in SUPPORTED_FORMATS:
            raise _unsupported(self.id, detected)
        if declared is not None and declared != detected:
            raise errors.ImageWriteError(
                "image %s: image_info disk_format is %s but the image's content is %s; "
                "nothing was written" % (self.id, declared, detected))
        if detected == "qcow2":
            self._check_qcow2_header(bytes(buf[:filled]))
        self.disk_format = detected
        digest = self.expected.new_hash()
        if detected == "raw":
            if length is not None and length > self.disk_size:
                raise errors.ImageWriteError(
                    "image %s is larger than the disk: %d bytes (Content-Length) > %d bytes "
                    "on %s; nothing was written" % (self.id, length, self.disk_size,
                                                    self.device))
            self._stream_raw(response, url, buf, filled, digest)
        else:
            self._stage_qcow2(response, url, buf, filled, digest)
        if length is not None and self.downloaded != length:
            raise errors.ImageDownloadError(
                self.id, "%s ended after %d of %d bytes" % (fetch.redact(url),
                                                            self.downloaded, length))
        actual = digest.hexdigest()
        if actual != self.expected.value:
            raise errors.ImageChecksumError(self.id, fetch.redact(url), self.expected.value,
                                            actual)
        if detected == "qcow2":
            self._convert_qcow2()
        else:
            self._write_head()

    def _stream_raw(self, response, url, first, filled, digest) -> None:
        """Receive here; hash and write in their own threads (pipeline.py).

        The chunk at offset 0 is kept aside (:meth:`_write_head` writes it
        after the checksum held) and the device's ends are zeroed first.
        """
        disk.make_unbootable(self.device)
        fd = disk.open_for_write(self.device)

        def write(chunk: memoryview, offset: int) -> None:
            if offset == 0:
                self.head = bytes(chunk)  # one chunk, held until verified
                self.written = max(self.written, len(chunk))
                return
            done = 0
            while done < len(chunk):
                try:
                    done += os.pwrite(fd, chunk[done:], offset + done)
                except OSError as exc:
                    raise errors.ImageWriteError(
                        "writing image %s to %s at offset %d failed: %s"
                        % (self.id, self.device, offset + done, exc.strerror))
            self.written = max(self.written, offset + len(chunk))

        # ``first`` is already full: it is submitted first and joins the pool after
        spare = [bytearray(len(first)) for _ in range(PIPELINE_BUFFERS - 1)]
        flow = pipeline.Pipeline([lambda chunk, _offset: digest.update(chunk), write],
                                 spare)
        offset = 0
        try:
            buf, got = first, filled
            while got:
                if offset + got > self.disk_size:
                    raise errors.ImageWriteError(
                        "image %s is larger than the disk %s (%d bytes): it was still "
                        "streaming after %d bytes" % (self.id, self.device, self.disk_size,
                                                      offset))
                flow.submit(buf, got, offset)
                offset += got
                self.downloaded = offset
                buf = flow.take()
                got = self._fill(response, url, buf)
        finally:
            try:
                flow.close()
            finally:
                os.close(fd)

    def _write_head(self) -> None:
        """Write the image's first chunk, now that all of it is verified, and sync."""
        head = getattr(self, "head", b"")
        fd = disk.open_for_write(self.device)
        try:
            done = 0
            while done < len(head):
                done += os.pwrite(fd, head[done:], done)
            os.fsync(fd)
        except OSError as exc:
            raise errors.ImageWriteError("writing the first %d bytes of image %s to %s "
                                         "failed: %s" % (len(head), self.id, self.device,
                                                         exc.strerror))
        finally:
            os.close(fd)

    def _fill(self, response, url, buf: bytearray) -> int:
        """Read until ``buf`` is full or the body ends; bytes read."""
        filled = 0
        with memoryview(buf) as view:
            while filled < len(buf):
                got = _read_into(response, view[filled:], self.id, url)
                if not got:
                    break
                filled += got
        return filled

    def _stage_qcow2(self, response, url, buf, filled, digest) -> None:
        if shutil.which(self.options.qemu_img) is None:
            raise errors.ToolMissingError(self.options.qemu_img, "qemu-utils",
                                          "write a qcow2 image")
        handle = tempfile.NamedTemporaryFile(prefix="hwdrivers-agent-", suffix=".qcow2",
                                             dir=self.options.tmp_dir, delete=False)
        self.staged = handle.name
        with handle, memoryview(buf) as view:
            got = filled
            while got:
                chunk = view[:got]
                digest.update(chunk)
                try:
                    handle.write(chunk)
                except OSError as exc:
                    raise errors.ImageWriteError(
                        "staging qcow2 image %s in %s failed: %s"
                        % (self.id, os.path.dirname(handle.name), exc.strerror))
                self.downloaded += got
                got = self._fill(response, url, buf)

    def _check_qcow2_header(self, head: bytes) -> None:
        """Refuse from the header what qemu-img would refuse after the whole download."""
        unsafe = qcow2_header_refusal(head)
        if unsafe:
            raise errors.ImageWriteError("image %s refused: %s, which could read files of "
                                         "the ramdisk; nothing was written" % (self.id, unsafe))
        virtual = qcow2_virtual_size(head)
        if virtual > self.disk_size:
            raise errors.ImageWriteError(
                "image %s is larger than the disk: virtual size %d bytes > %d bytes on %s; "
                "nothing was written" % (self.id, virtual, self.disk_size, self.device))

    def _qemu_img(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.options.qemu_img, *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)

    def _convert_qcow2(self) -> None:
        proc = self._qemu_img("info", "--output=json", "-f", "qcow2", self.staged)
        if proc.returncode != 0:
            raise errors.ImageWriteError("qemu-img info on image %s failed: %s"
                                         % (self.id, proc.stderr.strip()))
        info = json.loads(proc.stdout)
        for unsafe in ("backing-filename", "full-backing-filename"):
            if info.get(unsafe):
                raise errors.ImageWriteError(
                    "image %s is a qcow2 with a backing file (%s); refused: it could read "
                    "files of the ramdisk" % (self.id, info[unsafe]))
        data_file = (info.get("format-specific") or {}).get("data", {}).get("data-file")
        if data_file:
            raise errors.ImageWriteError("image %s is a qcow2 with an external data file; "
                                         "refused" % self.id)
        virtual = int(info.get("virtual-size", 0))
        if virtual > self.disk_size:
            raise errors.ImageWriteError(
                "image %s is larger than the disk: virtual size %d bytes > %d bytes on %s; "
                "nothing was written" % (self.id, virtual, self.disk_size, self.device))
        self.written = virtual  # from here on the device may hold part of it
        proc = self._qemu_img("convert", "-f", "qcow2", "-O", "raw", "-n", self.staged,
                              self.device)
        if proc.returncode != 0:
            raise errors.ImageWriteError(
                "qemu-img convert of image %s to %s failed (exit %d): %s"
                % (self.id, self.device, proc.returncode, proc.stderr.strip()))

    def cleanup(self) -> None:
        staged = getattr(self, "staged", None)
        if staged:
            try:
                os.unlink(staged)
            except FileNotFoundError:
                pass


def _resolve_checksum(image_info: dict, options: WriteOptions) -> checksum.Expected:
    def fetch_lines(url: str) -> Iterator[str]:
        return fetch.read_lines(url, options.http, str(image_info["id"]), CHECKSUM_FILE_LIMIT,
                                CHECKSUM_LINE_LIMIT)
    return checksum.resolve(image_info, options.allow_md5, fetch_lines)


def _with_retries(action: Callable[[int], object], options: WriteOptions,
                  image_id: str) -> None:
    """Run ``action(attempt)``; retry an error that says it is retryable."""
    for attempt in range(options.retries + 1):
        try:
            action(attempt)
            return
        except errors.AgentError as exc:
            if not exc.retryable or attempt == options.retries:
                raise
            LOG.warning("image %s: attempt %d of %d failed, retrying in %ss: %s", image_id,
                        attempt + 1, options.retries + 1, options.retry_interval, exc.details)
            time.sleep(options.retry_interval)


def write_image(image_info: dict, device: str, options: WriteOptions) -> Outcome:
    """Download, verify and write ``image_info``'s image onto ``device``.

    Raises ImageDownloadError, ImageChecksumError or ImageWriteError (and
    leaves the device unbootable) on failure.
    """
    image_id = str(image_info["id"])
    started = time.monotonic()
    options = dataclasses.replace(options, http=dataclasses.replace(
        options.http, proxies=image_info.get("proxies") or {},
        no_proxy=image_info.get("no_proxy")))
    if options.http.proxies:
        LOG.info("image %s: through proxies %s (not for: %s)", image_id,
                 {scheme: fetch.redact(url) for scheme, url in options.http.proxies.items()},
                 options.http.no_proxy or "-")
    disk_size = disk.size_of(device)
    state: dict = {"written": 0, "attempts": 0}
    holder: dict = {}

    def resolve(_attempt: int) -> None:
        holder["expected"] = _resolve_checksum(image_info, options)

    def download(attempt: int) -> None:
        state["attempts"] = attempt + 1
        if holder["expected"] is None:  # the last attempt's mismatch: read the file again
            resolve(attempt)
        current = _Attempt(image_info, device, disk_size, holder["expected"], options)
        holder["attempt"] = current
        try:
            current.run()
        except errors.ImageChecksumError:
            if checksum.is_url(holder["expected"].source):  # it came from a file
                holder["expected"] = None
            raise
        finally:
            state["written"] = max(state["written"], current.written)
            current.cleanup()

    try:
        _with_retries(resolve, options, image_id)
        _with_retries(download, options, image_id)
    except Exception:
        LOG.error("image %s: failed; making %s unbootable", image_id, device)
        try:
            disk.make_unbootable(device, state["written"])
        except OSError as exc:
            LOG.error("could not make %s unbootable: %s", device, exc)
        raise
    done = holder["attempt"]
    outcome = Outcome(disk_format=done.disk_format, bytes_downloaded=done.downloaded,
                      bytes_written=done.written, seconds=time.monotonic() - started,
                      attempts=state["attempts"], algorithm=holder["expected"].algorithm,
                      digest=holder["expected"].value)
    LOG.info("image %s (%s, %d bytes) written to %s in %.2fs, %s verified, %d attempt(s)",
             image_id, outcome.disk_format, outcome.bytes_downloaded, device, outcome.seconds,
             outcome.algorithm, outcome.attempts)
    return outcome
