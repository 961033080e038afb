"""A bounded worker pool that refuses instead of queueing.

An operation accepted by the API must start promptly; when every worker
is busy, the caller gets :class:`NoFreeWorker` (HTTP 503) at once and
nothing has changed, rather than a request parked behind thousands of
others.

Workers are persistent daemon threads fed by a queue, started as the load
first needs them and kept: starting a thread per operation made the API
request wait in ``Thread.start()`` for the new thread, which takes the GIL
as it starts (measured: 4.5-8.5 ms to the 202 against 1.7-2.1 ms with
persistent threads, doc/performance.md). Daemon, because an operation stuck
in a BMC call past the graceful-shutdown timeout has already lost its lease
and been marked aborted (:meth:`ConductorService.stop`), and must not keep
the process alive the way a ``ThreadPoolExecutor``'s joined threads would.
"""

import concurrent.futures
import itertools
import queue
import threading

from hwdrivers.common import exception


class WorkerPool:
    def __init__(self, size, name="hwdrivers-worker"):
        self.size = size
        self.stopping = False
        self._slots = threading.BoundedSemaphore(size)
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0      # accepted operations not finished yet
        self._threads = 0   # worker threads started (never more than size)
        self._name = name
        self._ids = itertools.count(1)

    @property
    def busy(self):
        return self._busy

    def submit(self, func, *args, **kwargs):
        """Run ``func`` in a worker and return its Future, or raise NoFreeWorker."""
        return self.reserve().submit(func, *args, **kwargs)

    def reserve(self):
        """A worker for an operation about to be submitted, or NoFreeWorker now.

        For a caller that must know a worker is free before it changes
        anything (a power request publishes its target in the same
        transaction that takes the lease): :meth:`Reservation.submit` runs
        the work, :meth:`Reservation.cancel` gives the worker back unused.
        """
        if self.stopping:
            raise exception.NoFreeWorker("The conductor is shutting down; retry later.")
        if not self._slots.acquire(blocking=False):
            raise exception.NoFreeWorker()
        with self._lock:
            self._busy += 1
            # A thread per accepted operation at most, so none waits in the
            # queue while another runs: threads >= busy after this.
            grow = self._threads < self._busy
            if grow:
                self._threads += 1
        if grow:
            try:
                threading.Thread(target=self._work, daemon=True,
                                 name="%s-%d" % (self._name, next(self._ids))).start()
            except RuntimeError:  # no thread can start (interpreter exiting, ulimit)
                with self._lock:
                    self._threads -= 1
                self._finished()
                raise exception.NoFreeWorker(
                    "No worker thread could be started; retry later.") from None
        return Reservation(self)

    def _work(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, func, args, kwargs = item
            del item
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(func(*args, **kwargs))
                    except BaseException as exc:  # the Future carries it to the caller
                        future.set_exception(exc)
            finally:
                # Drop references before waiting for the next operation.
                del future, func, args, kwargs
                self._finished()

    def _finished(self):
        with self._lock:
            self._busy -= 1
            self._idle.notify_all()
        self._slots.release()

    def wait_idle(self, timeout=None):
        """Wait up to ``timeout`` until no accepted operation is running; True if none is."""
        with self._lock:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def shutdown(self, wait=True, timeout=None):
        """Refuse new work; wait up to ``timeout`` for the running work. True if idle."""
        self.stopping = True
        idle = self.wait_idle(timeout) if wait else self._busy == 0
        if idle:
            with self._lock:
                threads, self._threads = self._threads, 0
            for _ in range(threads):
                self._queue.put(None)
        return idle


class Reservation:
    """One worker of a :class:`WorkerPool`, held for one operation."""

    __slots__ = ("_pool", "used")

    def __init__(self, pool):
        self._pool = pool
        self.used = False

    def submit(self, func, *args, **kwargs):
        """Run ``func`` in the reserved worker; returns its Future."""
        if self.used:
            raise RuntimeError("a reserved worker runs one operation")
        self.used = True
        future = concurrent.futures.Future()
        self._pool._queue.put((future, func, args, kwargs))
        return future

    def cancel(self):
        """Give the worker back if nothing was submitted (safe to call twice)."""
        if not self.used:
            self.used = True
            self._pool._finished()
