"""The agent's own log: kept in a bounded ring, handed back by ``log.collect_system_logs``.

IPA returns a base64-encoded tar.gz of the ramdisk's logs so the conductor
can store it after a failure; this agent packs its own log (the last
``MAX_BYTES`` of it) the same way. Nothing secret is logged in the first
place: the agent token, config drive and URL query strings never are.
"""

import base64
import collections
import io
import logging
import tarfile
import threading
import time

MAX_BYTES = 2 * 1024 * 1024
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RingHandler(logging.Handler):
    """Keeps the most recent formatted records, at most ``max_bytes`` of them."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self._lines: collections.deque[str] = collections.deque()
        self._size = 0
        self._guard = threading.Lock()
        self.setFormatter(logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            self._lines.append(line)
            self._size += len(line)
            while self._size > self.max_bytes and len(self._lines) > 1:
                self._size -= len(self._lines.popleft())

    def text(self) -> str:
        with self._guard:
            return "".join(self._lines)


def setup(debug: bool = False) -> RingHandler:
    """Log to stderr and to the ring; returns the ring."""
    ring = RingHandler()
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stream)
    root.addHandler(ring)
    return ring


def archive(files: dict[str, str]) -> str:
    """base64 of a tar.gz holding ``{name: text}``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode("ascii")
