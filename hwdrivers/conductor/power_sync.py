"""Periodic power-state sync: does every node's BMC agree with the database?

One cycle (:meth:`PowerSync.run_cycle`) reads the power state of every
node that nobody is acting on — not locked, not in maintenance, no pending
power or provision target — and settles disagreements:

* ``[conductor] force_power_state_during_sync = True`` (Ironic's default):
  the node is put back in its recorded state (the database is the intent);
* ``False``: the state found is recorded (the hardware is the truth).

A node with no recorded power state whose driver_info does not validate
(just enrolled, its credentials still to come) is skipped, as Ironic does,
instead of being counted as a failure. A BMC that answers ``error`` has failed the read (as Ironic's
PowerStateFailure): the state is neither recorded nor forced, and the
failure counts toward maintenance.

A correction counts as a failure too (only a read that agrees resets the
count, as in Ironic): a machine put back power_state_sync_max_retries times
in a row and found out of its state again has the state found recorded and
goes to maintenance, rather than being switched back every cycle forever.

Nodes whose last sync failed are read first, so a flapping BMC is noticed
quickly. After ``power_state_sync_max_retries`` failures in a row a node
goes to maintenance with fault ``power failure`` and a maintenance_reason
saying why; :meth:`PowerSync.recover_failed_nodes` takes it out again
(maintenance off, fault cleared) once its BMC answers.

Why it scales to tens of thousands of nodes: nodes are paged by id from a
short read transaction, so memory holds a page and the in-flight nodes,
not the fleet; a bounded pool of ``sync_power_state_workers`` threads calls
the BMCs (through the per-controller queues, like every other call), and no
database connection is held while a BMC answers. The state check uses the
row just read (a shared, lock-free read); the exclusive lease is taken only
for the rare node whose state must be written or corrected, and the other
writes (failure counters) are single conditional UPDATEs that skip locked
nodes. A cycle over N nodes with BMC latency d and concurrency c takes
about N*d/c; a cycle longer than ``sync_power_state_interval`` logs a
warning naming ``sync_power_state_workers``, the option to raise.

Each cycle ends by clearing stale power targets: a ``target_power_state``
left on a node no live lease covers (reservation NULL or expired) belongs
to a task that stopped holding its lease before recording its result (its
conductor was paused, lost the database, or died without a restart to run
the start-up recovery), and clients polling the node would wait for it
forever. The clear is one compare-and-set UPDATE per batch
(:func:`db_api.clear_unleased_target_power_states`), so a task that took
the lease and published a fresh target since the read is never touched;
leases this process still renews (a task whose renewal lagged) are left
alone, and with ``owns`` only the nodes this conductor owns are cleared
(a dead conductor's nodes are repaired by its reaper, with its message).
The node is read as usual from the next cycle on.

With several conductors (``owns``, see conductor/service.py) each one reads
only the nodes it owns on its group's hash ring, so every node is read by
one conductor per interval (and :meth:`PowerSync.recover_failed_nodes`
reads only its own too); ownership is checked again right before a
correction takes the lease, so a conductor whose view went stale acts on
nothing it no longer owns.
"""

import contextlib
import dataclasses
import logging
import queue
import threading
import time

from oslo_config import cfg

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import controllers
from hwdrivers.conductor import metrics
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers import actions
from hwdrivers.drivers import factory
from hwdrivers.drivers import task as driver_task
from hwdrivers.objects.node import Node

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

_DONE = object()  # tells a sync thread the cycle is over

_INTERFACE_FIELDS = tuple("%s_interface" % kind for kind in interface_types.ALL)


@dataclasses.dataclass
class SyncStats:
    """What one cycle did. ``nodes`` = nodes examined; ``duration`` in seconds.

    ``not_owned`` counts the nodes other conductors own (not read here);
    ``read_seconds`` is the time spent in reads summed over nodes, of which
    ``queued_seconds`` waiting for a shared controller's slot;
    ``targets_cleared`` the stale power targets cleared (no live lease).
    """

    nodes: int = 0
    in_sync: int = 0
    recorded: int = 0
    corrected: int = 0
    failed: int = 0
    skipped: int = 0
    to_maintenance: int = 0
    recovered: int = 0
    duration: float = 0.0
    concurrency: int = 0
    not_owned: int = 0
    read_seconds: float = 0.0
    queued_seconds: float = 0.0
    targets_cleared: int = 0

    #: Counters that mean something changed or went wrong in the cycle.
    NOTABLE = ("recorded", "corrected", "failed", "to_maintenance", "recovered",
               "targets_cleared")

    def as_dict(self):
        return dataclasses.asdict(self)

    @property
    def notable(self):
        return any(getattr(self, name) for name in self.NOTABLE)

    def summary(self):
        """``"120 nodes in 2.4s: 117 in sync, 2 corrected, 1 failed"``: the
        counters that are not zero, for the one log line per cycle."""
        counts = ", ".join(
            "%d %s" % (value, name.replace("_", " ")) for name, value in (
                ("in_sync", self.in_sync), ("recorded", self.recorded),
                ("corrected", self.corrected), ("failed", self.failed),
                ("skipped", self.skipped), ("to_maintenance", self.to_maintenance),
                ("recovered", self.recovered), ("not_owned", self.not_owned),
                ("targets_cleared", self.targets_cleared)) if value)
        return "%d node%s in %.1fs%s" % (self.nodes, "" if self.nodes == 1 else "s",
                                         self.duration, ": " + counts if counts else "")


class _ReadTask:
    """A shared task over a row already read: no lock, no extra query."""

    shared = True

    def __init__(self, node, driver, context):
        self.node = node
        self.driver = driver
        self.context = context
        self.logger = driver_task.NodeLoggerAdapter(driver_task.LOG, {"node": node.ident})


class _Counter:
    """Thread-safe increments of a :class:`SyncStats`."""

    def __init__(self, stats):
        self.stats = stats
        self._lock = threading.Lock()

    def add(self, field, count=1):
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + count)


class PowerSync:
    """The power-state sync of one conductor; :meth:`run_cycle` is one pass."""

    def __init__(self, conf=CONF, registry=None, concurrency=None, page_size=500,
                 stop_event=None, context=None, owns=None):
        self.conf = conf
        # owns(node) -> bool: this conductor's share of the nodes (None: all).
        self.owns = owns
        self._registry = registry
        self.concurrency = concurrency or conf.conductor.sync_power_state_workers
        self.page_size = page_size
        self.stop_event = stop_event or threading.Event()
        self.context = context or hw_context.get_admin_context()
        self._compositions = {}
        self._compose_lock = threading.Lock()

    @property
    def registry(self):
        return self._registry or factory.get_registry()

    # -- helpers -----------------------------------------------------------------

    def _compose(self, node):
        """The node's composed driver, cached by (driver, interface choices)."""
        key = (node.driver,) + tuple(getattr(node, f, None) for f in _INTERFACE_FIELDS)
        composition = self._compositions.get(key)
        if composition is None:
            composition = self.registry.compose(node)
            with self._compose_lock:
                if len(self._compositions) > 1024:
                    self._compositions.clear()
                self._compositions[key] = composition
        return composition

    def _read(self, task, counter=None):
        """Validate, then read the power state through the controller queues.

        With ``counter``, the time spent waiting for a controller's slot is
        added to its ``queued_seconds`` (what the overrun warning reports).
        """
        task.driver.power.validate(task)
        if counter is None:
            state = actions.get_power_state(task, gate=controllers.LIMITER.slot)
        else:
            @contextlib.contextmanager
            def timed_slot(key, limits):
                asked = time.monotonic()
                with controllers.LIMITER.slot(key, limits):
                    counter.add("queued_seconds", time.monotonic() - asked)
                    yield

            state = actions.get_power_state(task, gate=timed_slot)
        if state is PowerState.ERROR:
            # As Ironic's PowerStateFailure: the BMC does not know whether the
            # machine is on or off, so there is nothing to record and nothing
            # to force the machine out of; it counts as a failed read.
            raise exception.DriverActionError(
                "the controller reports power state 'error', so whether the machine "
                "is on or off is unknown; check the BMC (its event log, a reset "
                "of the BMC) until it reports on or off", node=task.node.ident)
        return state

    def _pages(self, fetch):
        """Rows from ``fetch(after_id, limit)``, page by page, until stopped."""
        after = 0
        while not self.stop_event.is_set():
            page = fetch(after, self.page_size)
            if not page:
                return
            for row in page:
                after = row["id"]
                yield row

    def _run_bounded(self, rows, func):
        """Run ``func(row)`` for each row on ``concurrency`` threads.

        Rows are handed over through a queue at most twice the concurrency
        long, so paging stays just ahead of the BMC calls. The threads are
        daemons: a BMC that never answers cannot keep a stopping process
        alive. On stop, queued rows are dropped and in-flight reads finish.
        """
        work = queue.Queue(maxsize=self.concurrency * 2)

        def worker():
            while True:
                row = work.get()
                if row is _DONE:
                    return
                try:
                    func(row)
                except Exception:
                    LOG.exception("Power sync of node %s failed unexpectedly",
                                  row.get("uuid"))

        threads = [threading.Thread(target=worker, daemon=True,
                                    name="hwdrivers-sync-%d" % index)
                   for index in range(self.concurrency)]
        for thread in threads:
            thread.start()
        try:
            for row in rows:
                while not self.stop_event.is_set():
                    try:
                        work.put(row, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if self.stop_event.is_set():
                    break
        finally:
            if self.stop_event.is_set():
                while True:  # stopping: nothing new starts
                    try:
                        work.get_nowait()
                    except queue.Empty:
                        break
            for _ in threads:
                work.put(_DONE)
            for thread in threads:
                thread.join()

    # -- one cycle -----------------------------------------------------------------

    def run_cycle(self):
        """Sync every eligible node once; returns :class:`SyncStats`."""
        start = time.monotonic()
        stats = SyncStats(concurrency=self.concurrency)
        counter = _Counter(stats)
        seen_failed = set()

        def rows():
            # Nodes that failed last time first; a node that recovers there
            # drops to the second pass's filter and must not be read twice.
            for row in self._pages(lambda a, n: db_api.list_nodes_to_sync(True, a, n)):
                seen_failed.add(row["id"])
                if self._mine(row, counter):
                    yield row
            for row in self._pages(lambda a, n: db_api.list_nodes_to_sync(False, a, n)):
                if row["id"] not in seen_failed and self._mine(row, counter):
                    yield row

        self._run_bounded(rows(), lambda row: self._sync_node(row, counter))
        if not self.stop_event.is_set():
            stats.targets_cleared = len(self.clear_stale_targets())
        stats.duration = time.monotonic() - start
        metrics.record_sync_cycle(stats)
        # One line per cycle, the operator's heartbeat of the sync; with no node
        # at all to look at, DEBUG: an empty lab's log is not one line a minute.
        busy = stats.nodes or stats.not_owned or stats.notable
        LOG.log(logging.INFO if busy else logging.DEBUG, "Power sync: %s", stats.summary())
        self._warn_overrun(stats)
        return stats

    def clear_stale_targets(self):
        """Clear the power targets no live lease covers on this conductor's nodes.

        Returns the ids of the nodes cleared. A lease this process still
        renews belongs to a live task (its renewal merely lagged): its
        target stays. The database re-checks the lease in the UPDATE itself.
        """
        uuids = {}

        def accept(row):
            held = {task.owner for task in task_manager.LEASES.held()}
            if row["reservation"] is not None and row["reservation"] in held:
                return False
            if self.owns is not None and not self.owns(Node(row)):
                return False
            uuids[row["id"]] = (row["uuid"], row["target_power_state"])
            return True

        cleared = db_api.clear_unleased_target_power_states(accept)
        for node_id in cleared:
            uuid, target = uuids[node_id]
            LOG.warning("Node %s: cleared its target power state %s: the task acting on "
                        "it no longer holds its lease (paused, cut off from the database "
                        "or dead), so nothing will finish it", uuid, target)
        return cleared

    def _mine(self, row, counter):
        """True when this conductor syncs ``row`` (always without ``owns``)."""
        if self.owns is None or self.owns(Node(row)):
            return True
        counter.add("not_owned")
        return False

    def _warn_overrun(self, stats):
        interval = self.conf.conductor.sync_power_state_interval
        if interval <= 0 or stats.duration <= interval:
            return
        per_read = (stats.read_seconds - stats.queued_seconds) / max(stats.nodes, 1)
        needed = int(2 * stats.nodes * per_read / interval) + 1
        if stats.queued_seconds > stats.read_seconds / 2 > 0:
            hint = ("more workers would not help: reads spent %d%% of their time queued "
                    "behind shared controllers (a PDU's outlets are read one by one: its "
                    "driver's max_concurrency and min_command_interval), so the busiest "
                    "controller bounds the cycle; raise the interval, or that "
                    "controller's max_concurrency if it can take it"
                    % (100 * stats.queued_seconds / stats.read_seconds))
        else:
            hint = ("raise [conductor] sync_power_state_workers (now %d; about %d read "
                    "these %d nodes at %.2fs each in half the interval) or add "
                    "conductors" % (self.concurrency, needed, stats.nodes, per_read))
        LOG.warning("Power sync: the cycle over %d nodes took %.1fs, longer than [conductor] "
                    "sync_power_state_interval = %ss, so nodes are read less often than "
                    "configured; %s", stats.nodes, stats.duration, interval, hint)

    def _sync_node(self, row, counter):
        counter.add("nodes")
        node = Node(row)
        started = time.monotonic()
        try:
            task = _ReadTask(node, self._compose(node), self.context)
            if node.power_state is None and not self._validates(task):
                counter.add("skipped")
                return
            state = self._read(task, counter)
        except Exception as exc:
            self._failed(node, exc, counter)
            return
        finally:
            counter.add("read_seconds", time.monotonic() - started)
        if node.power_state == state.value:
            if node.power_sync_failures:
                db_api.reset_power_sync_failures(node.id)
            counter.add("in_sync")
            return
        self._settle(node, counter)

    @staticmethod
    def _validates(task):
        """False when the node's driver_info does not validate.

        Asked only of a node with no recorded power state: as in Ironic's
        do_sync_power_state, such a node was just enrolled and its
        credentials are still to come, so it is skipped rather than counted
        as a failure (which would send a fresh fleet to maintenance with
        fault ``power failure``). A node with a recorded state whose
        settings broke still fails, and goes to maintenance saying why.
        """
        try:
            task.driver.power.validate(task)
        except exception.InvalidParameterValue as exc:
            task.logger.debug("power sync skipped: no recorded power state and %s", exc)
            return False
        return True

    def _settle(self, node, counter):
        """Under the lease: re-check, then record or correct the state."""
        error = None
        try:
            # One attempt at the lease: the sync never waits behind a request.
            with task_manager.acquire(self.context, node.id, purpose="power state sync",
                                      registry=self._registry, lock_timeout=0) as task:
                current = task.node
                if (current.maintenance or current.target_power_state
                        or current.target_provision_state
                        or (self.owns is not None and not self.owns(current))):
                    counter.add("skipped")
                    return
                try:
                    found = self._read(task)
                except Exception as exc:
                    error = exc
                else:
                    outcome = self._apply(task, found)
                    counter.add(outcome)
                    return
        except exception.NodeLocked:
            counter.add("skipped")
            return
        except exception.NodeNotFound:
            counter.add("skipped")
            return
        except Exception as exc:  # a failed correction; the lease is released now
            error = exc
        if error is not None:
            self._failed(node, error, counter)

    def _apply(self, task, found):
        node = task.node
        recorded = node.power_state
        failures = 0
        if recorded == found.value:
            outcome = "in_sync"
        elif (self.conf.conductor.force_power_state_during_sync and recorded
              and PowerState(recorded) in (PowerState.ON, PowerState.OFF)):
            # Each correction counts, as in Ironic: only a read that agrees
            # resets the count, so a machine something keeps switching (a
            # thermal fault, a person at its console) is not forced forever.
            failures = (node.power_sync_failures or 0) + 1
            max_retries = self.conf.conductor.power_state_sync_max_retries
            if failures > max_retries:
                self._give_up_correcting(task, found, failures - 1, max_retries)
                return "to_maintenance"
            task.logger.warning("power state is %s but %s was recorded; putting it back "
                                "([conductor] force_power_state_during_sync, correction "
                                "%d of at most %d in a row)",
                                found.value, recorded, failures, max_retries)
            actions.set_power_state(task, recorded, gate=controllers.LIMITER.slot)
            outcome = "corrected"
        else:
            task.logger.warning("power state is %s, %s was recorded; recording %s",
                                found.value, recorded, found.value)
            node.power_state = found.value
            outcome = "recorded"
        node.power_sync_failures = failures
        task.save()
        return outcome

    @staticmethod
    def _give_up_correcting(task, found, corrections, max_retries):
        """Record what was found and put the node in maintenance, saying why."""
        node = task.node
        reason = ("Power state sync found the machine %s instead of the recorded %s "
                  "after putting it back %d time(s) in a row (limit: [conductor] "
                  "power_state_sync_max_retries = %d): something outside hwdrivers keeps "
                  "changing it (a thermal or power fault, a BMC policy, someone at its "
                  "console). Recorded %s and stopped correcting; the node leaves "
                  "maintenance by itself once its BMC answers, with the state it reports."
                  % (found.value, node.power_state, corrections, max_retries, found.value))
        task.logger.error("%s; put in maintenance", reason)
        node.power_state = found.value
        node.power_sync_failures = corrections + 1
        node.maintenance = True
        node.fault = db_api.POWER_FAILURE_FAULT
        node.maintenance_reason = reason
        node.last_error = reason
        task.save()

    def _failed(self, node, exc, counter):
        metrics.record_driver_error(exc)
        max_retries = self.conf.conductor.power_state_sync_max_retries
        failures = (node.power_sync_failures or 0) + 1
        reason = ("Power state sync failed %d time(s) in a row (limit: [conductor] "
                  "power_state_sync_max_retries = %d); last error: %s. The node leaves "
                  "maintenance by itself once its BMC answers again."
                  % (failures, max_retries, exc))
        result = db_api.record_power_sync_failure(node.id, max_retries, reason)
        counter.add("failed")
        if result is not None and result[1]:
            counter.add("to_maintenance")
            LOG.error("Node %s: %s; put in maintenance", node.ident, reason)
        else:
            LOG.warning("Node %s: power state sync failed: %s", node.ident, exc)

    # -- recovery -------------------------------------------------------------------

    def recover_failed_nodes(self):
        """Take nodes out of sync-imposed maintenance whose BMC answers again.

        With ``owns``, only this conductor's nodes (the others' are counted in
        ``not_owned``). Returns :class:`SyncStats` with ``recovered`` and
        ``failed`` counts.
        """
        start = time.monotonic()
        stats = SyncStats(concurrency=self.concurrency)
        counter = _Counter(stats)

        def recover(row):
            counter.add("nodes")
            node = Node(row)
            try:
                state = self._read(_ReadTask(node, self._compose(node), self.context))
            except Exception as exc:
                counter.add("failed")
                LOG.debug("Node %s: still no answer from its BMC: %s", node.ident, exc)
                return
            if db_api.clear_power_failure(node.id, state.value):
                counter.add("recovered")
                LOG.info("Node %s: BMC answers again (%s); maintenance cleared",
                         node.ident, state.value)

        self._run_bounded((row for row in self._pages(db_api.list_power_failed_nodes)
                           if self._mine(row, counter)), recover)
        stats.duration = time.monotonic() - start
        return stats
