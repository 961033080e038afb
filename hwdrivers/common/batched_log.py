"""A log handler for the serving processes that writes in batches, off the request threads.

The API logs one INFO line per request. With logging's ``StreamHandler``
each line takes the handler's lock and writes and flushes while holding
it; eight request threads then queue on that lock and hand the GIL back
and forth on every line. Measured: 12 us per line from one thread, 44
us from eight, and about 0.25 ms of server CPU per power request (two
lines) under 50 clients (doc/performance.md §4).

:class:`BatchedStreamHandler` formats each record in the thread that logs
it (so the line says what was true then) and appends it to a queue
without a lock; one writer thread writes what has queued in one call
every ``interval`` seconds, at once for WARNING and above. Lines keep
their order. Nothing is lost: ``flush`` (also run by ``logging.shutdown``
at exit) writes the rest, and when the stream cannot keep up and
``max_pending`` lines wait, the logging thread writes them itself, so a
stuck stream slows the loggers down as before instead of growing memory.
"""

import collections
import logging
import threading


class BatchedStreamHandler(logging.Handler):
    """``logging.StreamHandler``'s output, written by one thread in batches."""

    def __init__(self, stream, interval=0.02, max_pending=10000):
        super().__init__()
        self.stream = stream
        self.interval = interval
        self.max_pending = max_pending
        self._pending = collections.deque()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._writer = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._writer.start()

    def handle(self, record):
        # logging.Handler.handle takes the handler lock around emit; the
        # queue needs none (deque.append is atomic).
        rv = self.filter(record)
        if isinstance(rv, logging.LogRecord):
            record = rv
        if rv:
            self.emit(record)
        return rv

    def emit(self, record):
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        if len(self._pending) >= self.max_pending or self._closed:
            self.flush()
        elif record.levelno >= logging.WARNING:
            self._wake.set()

    def flush(self):
        """Write every queued line now, in order."""
        with self._write_lock:
            pending, lines = self._pending, []
            while pending:
                try:
                    lines.append(pending.popleft())
                except IndexError:  # another thread took the last one
                    break
            if not lines:
                return
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except Exception:
                # logging's own policy for a failing stream: report on
                # stderr (when logging.raiseExceptions) and carry on.
                self.handleError(logging.makeLogRecord({"msg": lines[0][:200]}))

    def _run(self):
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def close(self):
        self._closed = True
        self._wake.set()
        self.flush()
        super().close()


def install(level, fmt, stream):
    """``logging.basicConfig`` through a :class:`BatchedStreamHandler`.

    Like basicConfig, nothing changes when the root logger already has a
    handler (a test run's, say); None then.
    """
    root = logging.getLogger()
    if root.handlers:
        return None
    handler = BatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def flush_all():
    """Write what the root logger's handlers hold (before printing to the same place)."""
    for handler in logging.getLogger().handlers:
        handler.flush()
