"""The conductor's Prometheus metrics, in a registry of its own.

A private :class:`CollectorRegistry` (not prometheus_client's global one)
so that importing this module never drags the process's default
collectors, or another library's metrics, into ``GET /metrics``, and so
tests can read exact values. Operations record into it
(:func:`operation`), the power sync records its cycles
(:func:`record_sync_cycle`); the depth of every busy per-controller queue is
read from :data:`controllers.LIMITER` at scrape time, never stored.

:func:`render` returns what the API's ``/metrics`` endpoint serves.
"""

import contextlib
import threading
import time

from hwdrivers.common import exception
from hwdrivers.conductor import controllers

#: Buckets from a fast fake call (ms) to a slow Redfish reboot (minutes).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                    120, 300, 600)
_SYNC_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


class _QueueDepthCollector:
    """Per-controller queue depth, read from the limiter when scraped.

    Only controllers with a command running or waiting are exported (an
    absent series is 0 in Prometheus). The limiter keeps every controller
    it ever queued for -- the BMCs of deleted nodes and old addresses
    included -- so exporting idle ones too gave a fleet of thousands of
    machines two series of zeros per BMC ever seen, for the life of the
    process.
    """

    def collect(self):
        from prometheus_client import core as prom_core

        gauge = prom_core.GaugeMetricFamily(
            "hwdrivers_controller_queue_depth", "Commands per busy controller, running "
            "(in_use) or waiting for a slot (waiting); an idle controller has no "
            "series.", labels=["controller", "state"])
        for key, (in_use, waiting) in sorted(controllers.LIMITER.depths().items()):
            if in_use or waiting:
                gauge.add_metric([str(key), "in_use"], in_use)
                gauge.add_metric([str(key), "waiting"], waiting)
        yield gauge

    def describe(self):
        return []


class _Metrics:
    """The registry and its metrics; built on first use (see :func:`_get`)."""

    def __init__(self):
        import prometheus_client as prom

        self.prom = prom
        self.registry = prom.CollectorRegistry(auto_describe=True)
        self.operations = prom.Counter(
            "hwdrivers_operations", "Node operations finished, by kind and result "
            "(success or the error class).", ["kind", "result"], registry=self.registry)
        self.latency = prom.Histogram(
            "hwdrivers_operation_duration_seconds", "Time node operations took, by "
            "kind (driver calls, retries and verification included).", ["kind"],
            buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.driver_errors = prom.Counter(
            "hwdrivers_driver_errors", "Driver errors by taxonomy code (settingsError, "
            "authError, toolError, connError, actionError, unsupportedActionError, "
            "fatalError).", ["code"], registry=self.registry)
        self.sync_cycle = prom.Histogram(
            "hwdrivers_power_sync_cycle_duration_seconds", "Duration of power-state "
            "sync cycles over the whole fleet.", buckets=_SYNC_BUCKETS,
            registry=self.registry)
        self.sync_nodes = prom.Counter(
            "hwdrivers_power_sync_nodes", "Nodes handled by power-state syncs, by "
            "outcome (in_sync, recorded, corrected, failed, skipped, to_maintenance).",
            ["outcome"], registry=self.registry)
        self.registry.register(_QueueDepthCollector())
        #: (kind, result) -> (operations child, latency child)
        self.children = {}


_metrics = None
_lock = threading.Lock()
_suspended = 0


@contextlib.contextmanager
def suspended():
    """Record nothing inside the block: for work whose figures nobody exports.

    The command line runs its command inside it, so a local power command
    does not import prometheus_client (~20 ms) for a registry no process
    serves. Process-wide while it lasts (a counter, so blocks may nest).
    """
    global _suspended
    with _lock:
        _suspended += 1
    try:
        yield
    finally:
        with _lock:
            _suspended -= 1


def _get():
    """The metrics, created on first use: importing prometheus_client costs
    ~80 ms, which a one-shot CLI command that never exports metrics should
    not pay."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


def record_driver_error(exc):
    """Count ``exc`` under its taxonomy code if it is a driver error."""
    if _suspended:
        return
    while exc is not None and not isinstance(exc, exception.DriverError):
        exc = exc.__cause__  # a wrapper (a failed clean step) around the driver's error
    if exc is not None:
        _get().driver_errors.labels(code=exc.taxonomy).inc()


def record_operation(kind, result, seconds):
    if _suspended:
        return
    metrics = _get()
    children = metrics.children.get((kind, result))
    if children is None:  # labels() sorts and locks: looked up once per pair
        children = metrics.children[(kind, result)] = (
            metrics.operations.labels(kind=kind, result=result),
            metrics.latency.labels(kind=kind))
    children[0].inc()
    children[1].observe(seconds)


@contextlib.contextmanager
def operation(kind):
    """Time the block and count it as ``success`` or the error's class name."""
    start = time.monotonic()
    try:
        yield
    except BaseException as exc:
        record_driver_error(exc)
        record_operation(kind, type(exc).__name__, time.monotonic() - start)
        raise
    record_operation(kind, "success", time.monotonic() - start)


def record_sync_cycle(stats):
    """Record one power-sync cycle (a :class:`power_sync.SyncStats`)."""
    if _suspended:
        return
    metrics = _get()
    metrics.sync_cycle.observe(stats.duration)
    for outcome in ("in_sync", "recorded", "corrected", "failed", "skipped",
                    "to_maintenance"):
        count = getattr(stats, outcome)
        if count:
            metrics.sync_nodes.labels(outcome=outcome).inc(count)


def sample(name, **labels):
    """The current value of one sample (None if absent); for tests and tools."""
    return _get().registry.get_sample_value(name, labels)


def render():
    """``(body, content_type)`` of the metrics in Prometheus text format."""
    metrics = _get()
    return metrics.prom.generate_latest(metrics.registry), metrics.prom.CONTENT_TYPE_LATEST
