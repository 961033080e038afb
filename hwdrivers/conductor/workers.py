"""A bounded worker pool that refuses instead of queueing.

An operation accepted by the API must start promptly; when every worker
is busy, the caller gets :class:`NoFreeWorker` (HTTP 503) at once and
nothing has changed, rather than a request parked behind thousands of
others.
"""

import concurrent.futures
import threading

from hwdrivers.common import exception


class WorkerPool:
    def __init__(self, size, name="hwdrivers-worker"):
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=size, thread_name_prefix=name)
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self):
        return self._busy

    def submit(self, func, *args, **kwargs):
        """Run ``func`` in a worker, or raise NoFreeWorker when all are busy."""
        if not self._slots.acquire(blocking=False):
            raise exception.NoFreeWorker()
        with self._lock:
            self._busy += 1

        def run():
            try:
                return func(*args, **kwargs)
            finally:
                with self._lock:
                    self._busy -= 1
                self._slots.release()

        try:
            return self._executor.submit(run)
        except RuntimeError:  # shut down
            with self._lock:
                self._busy -= 1
            self._slots.release()
            raise exception.NoFreeWorker("The conductor is shutting down; retry later.")

    def shutdown(self, wait=True, timeout=None):
        """Stop taking work; wait up to ``timeout`` for what runs."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        if wait:
            waited = threading.Event()

            def drained():
                for _ in range(self.size):
                    self._slots.acquire()
                waited.set()

            threading.Thread(target=drained, daemon=True).start()
            return waited.wait(timeout)
        return self._busy == 0
