"""Per-controller queues: PDUDaemon's serialisation, built into the conductor.

Many nodes share one controller (a PDU with 24 outlets, a chassis manager,
a fragile BMC). Every call a driver makes names its controller through
``controller_key(task)``; calls with the same key wait here for one of
``max_concurrency`` slots and start at least ``min_interval`` seconds
apart, whichever interface (power, management, sensors) makes them.

Keys are compared by :func:`canonical_key`: host names are case-insensitive,
and one BMC enrolled as ``BMC7.example.com`` on one node and
``bmc7.example.com`` on another is still one BMC, which must see one queue
(and one conductor on the hash ring), not two.
"""

import contextlib
import threading
import time


def canonical_key(key):
    """``key`` as controllers are told apart: case-folded (None stays None).

    Drivers build keys from addresses as enrolled; DNS names ignore case,
    so two spellings of one host must not make two queues. Merging two keys
    that differ only in case can at worst serialise calls that could have
    run together; splitting one controller lets it see more sessions than
    its ``max_concurrency``.
    """
    return key.lower() if key is not None else None


class _Controller:
    __slots__ = ("slots", "capacity", "lock", "next_start", "in_use",
                 "waiting", "peak")

    def __init__(self, capacity):
        self.capacity = capacity
        self.slots = threading.BoundedSemaphore(capacity) if capacity else None
        self.lock = threading.Lock()
        self.next_start = 0.0
        self.in_use = 0
        self.waiting = 0
        self.peak = 0


class ControllerLimiter:
    """One queue per controller key; thread-safe; keys with no limits pass."""

    def __init__(self):
        self._controllers = {}
        self._lock = threading.Lock()

    def _get(self, key, limits):
        with self._lock:
            controller = self._controllers.get(key)
            if controller is None or controller.capacity != limits.max_concurrency:
                # First use, or the config changed: a new queue.
                controller = _Controller(limits.max_concurrency)
                self._controllers[key] = controller
            return controller

    @contextlib.contextmanager
    def slot(self, key, limits):
        """Hold one of the controller's slots for the duration of a command."""
        if key is None or (not limits.max_concurrency and not limits.min_interval):
            yield
            return
        controller = self._get(canonical_key(key), limits)
        with controller.lock:
            controller.waiting += 1
        if controller.slots is not None:
            controller.slots.acquire()
        try:
            if limits.min_interval:
                with controller.lock:
                    start = max(time.monotonic(), controller.next_start)
                    controller.next_start = start + limits.min_interval
                delay = start - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            with controller.lock:
                controller.waiting -= 1
                controller.in_use += 1
                controller.peak = max(controller.peak, controller.in_use)
            try:
                yield
            finally:
                with controller.lock:
                    controller.in_use -= 1
        finally:
            if controller.slots is not None:
                controller.slots.release()

    def depths(self):
        """``{key: (in_use, waiting)}`` for metrics."""
        with self._lock:
            return {k: (c.in_use, c.waiting) for k, c in self._controllers.items()}

    def peak(self, key):
        """Most commands ever seen at once on ``key`` (for tests and benchmarks)."""
        with self._lock:
            controller = self._controllers.get(canonical_key(key))
        return controller.peak if controller else 0


#: The conductor's process-wide limiter.
LIMITER = ControllerLimiter()
