"""Tasks: every action on a node runs inside one, holding the node's lock.

An exclusive task holds a *lease* in the nodes table: an owner
(``<conductor host>:<task token>``) and an expiry, taken by one
compare-and-set ``UPDATE ... WHERE reservation IS NULL OR expired``. A
background keeper renews held leases every third of ``lease_duration``; a
conductor that dies leaves leases that simply expire, so nothing stays
locked forever. A busy node raises :class:`NodeLocked` after a short,
bounded wait, never a silent hang.

Usage::

    with task_manager.acquire(ctx, node_id, purpose="power on") as task:
        task.driver.power.set_power_state(task, PowerState.ON)

``task.spawn_after(pool.submit, func, *args)`` hands the lock to a worker:
the ``with`` block returns at once and the worker releases the lock when
``func`` finishes.

``acquire(..., publish=values, prepare=func)`` sets ``values`` in the
statement that takes the lease and runs ``func(task)`` inside the lease's
own transaction, its ``task.save()`` included: a power request takes the
lease, publishes its target and checks itself in one transaction of one
statement, and one it refuses rolls back, lease and all. ``func`` must not
wait on anything slow: on SQLite the process's writers queue behind it.

Before each command to the hardware the drivers' :func:`retry.run` calls
``task.confirm_lease()``: a task whose lease was renewed less than half its
duration ago (the local monotonic clock) goes on at once; one whose renewal
is overdue (the process was paused: SIGSTOP, a frozen VM, a long stall) or
found lost renews it in the database first, and is stopped with LeaseLost,
sending nothing more, when another task took it meanwhile.

``acquire(..., on_interrupt=func)``: if Ctrl-C (KeyboardInterrupt) lands
while the lease is held, wherever it lands (taking the lease, between the
``with`` and the action, in the action), ``func(task)`` runs before the
lease goes, to undo what ``publish`` announced. Only the thread Ctrl-C
reaches can be interrupted, so this is for actions run in the caller's
thread (the local CLI), which no recovery would ever clean up after.
"""

import datetime
import itertools
import logging
import math
import os
import threading
import time

from oslo_config import cfg

from hwdrivers.common import exception
from hwdrivers.common import secrets
from hwdrivers.common import states
from hwdrivers.conductor import node_history
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from hwdrivers.drivers import task as driver_task
from hwdrivers.objects.node import Node

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


#: Provision states a worker holds the lock through for long (minutes).
_LONG_STATES = frozenset(s.value for s in states.ACTIVE_STATES)
#: Retry-After (seconds) of a NodeLocked: a short operation (a power change)
#: is nearly done after the wait; a provisioning one will take a while.
SHORT_RETRY_AFTER = 1
LONG_RETRY_AFTER = 10
#: Part of ``lease_duration`` after a renewal within which a lease is taken
#: as held without asking the database: the keeper renews at a third and
#: ticks every sixth at most, so only an overdue renewal (a paused process,
#: a database that does not answer) makes a command check first.
FRESH_PART = 0.5

STOPPED_ERROR = (
    "Node %(node)s: %(purpose)s was stopped before its next command to the "
    "controller, with nothing more sent: this conductor's lock on the node "
    "(%(owner)s, last renewed %(age).0fs ago; [conductor] lease_duration is "
    "%(duration)gs) %(cause)s, so another conductor may be driving the "
    "machine. Check the node's power and boot device, then retry.")


def utcnow():
    """This process's clock (naive UTC). Leases are not judged by it: their
    statements read the database's clock (:mod:`hwdrivers.db.api`), one
    for every conductor, so a clock running ahead takes no live lease."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class _LeaseKeeper:
    """Renews the leases of every exclusive task this process holds."""

    def __init__(self):
        self._tasks = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def add(self, task):
        with self._lock:
            self._tasks.add(task)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="hwdrivers-lease-keeper", daemon=True)
                self._thread.start()

    def discard(self, task):
        with self._lock:
            self._tasks.discard(task)

    def held(self):
        with self._lock:
            return list(self._tasks)

    def holds(self, task):
        """Whether ``task`` is still kept. One that let go since :meth:`renew_due`
        read the list (its last write released the lease, after the task left
        the keeper) was not renewed because it has finished, not lost."""
        with self._lock:
            return task in self._tasks

    def renew_due(self, force=False):
        """Renew every lease whose last renewal is a third of its duration old."""
        duration = CONF.conductor.lease_duration
        lease = datetime.timedelta(seconds=duration)  # from the database's clock
        now = time.monotonic()
        due = [task for task in self.held()
               if force or now - task.renewed_at >= duration / 3.0]
        if not due:
            return
        try:  # one transaction for every lease due: never queued behind the workers
            renewed = db_api.renew_reservations(
                [(task.node.id, task.owner) for task in due], lease)
        except Exception:  # retried next tick
            LOG.exception("Could not renew %d lease(s)", len(due))
            return
        for task in due:
            if task.node.id in renewed:
                task.renewed(now, duration)
            elif self.holds(task):
                task.lease_lost = True
                task.lease_fresh_until = -math.inf  # its next command stops
                LOG.error("Node %s: lease %s was lost (expired and taken over); "
                          "the running %s may race another task",
                          task.node.uuid, task.owner, task.purpose)
                self.discard(task)

    def _run(self):
        # Tick often enough for the shortest lease; each lease is renewed
        # only when due, so a long tick never lets a short lease lapse.
        while True:
            self._wake.wait(min(1.0, max(0.05, CONF.conductor.lease_duration / 6.0)))
            self._wake.clear()
            try:
                self.renew_due()
            except Exception:  # noqa: BLE001 - the keeper must outlive any one tick
                # Only a new task restarted a dead keeper: the leases of the
                # tasks already running would lapse meanwhile.
                LOG.exception("Lease keeper: a renewal round failed; trying again")


LEASES = _LeaseKeeper()


class _OwnerTokens:
    """Tokens unique to each task: a random prefix per process, then a count.

    A fresh ``os.urandom`` per task was a system call on every request,
    one that lets go of the GIL; uniqueness is all a lease owner needs,
    and a 64-bit prefix drawn once per process (and again in a forked
    child, which must not reuse its parent's) with a counter behind it
    gives that, never repeating within a process.
    """

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        self.prefix = os.urandom(8).hex()
        self.count = itertools.count(1)

    def next(self):
        return "%s-%d" % (self.prefix, next(self.count))


_OWNER_TOKENS = _OwnerTokens()


#: How a process that is no conductor names itself in its leases (see
#: :func:`own_leases_as`); "" for a conductor.
_ROLE = ""


def own_leases_as(role: str) -> None:
    """Name this process's leases ``<host> (<role>):<token>``, not ``<host>:<token>``.

    A conductor's restart and its reaping release every lease starting with
    ``<host>:``. An hwdrivers-api on the same machine takes the machine's
    name as ``[DEFAULT] host`` too, and its leases (record updates under a
    node's lock) were released, their nodes marked aborted, whenever that
    conductor restarted. No conductor's prefix matches the role's form: a
    host has no spaces (cmd/conductor.py check_host).
    """
    global _ROLE
    _ROLE = " (%s)" % role


def _lease_name():
    return CONF.host + _ROLE


def make_owner():
    """A lease owner: this process's host (and role) and a token unique to the task."""
    return "%s:%s" % (_lease_name(), _OWNER_TOKENS.next())


def process_lease_prefix():
    """What every lease owner of this process (:func:`make_owner`) starts with."""
    return "%s:%s-" % (_lease_name(), _OWNER_TOKENS.prefix)


class TaskManager:
    """A node, its composed driver and (for exclusive tasks) its lock."""

    def __init__(self, context, node_id, shared=False, purpose="unspecified action",
                 registry=None, lock_timeout=None, prepare=None, publish=None,
                 on_interrupt=None):
        self.context = context
        # Seconds to wait for a busy node; None: [conductor]
        # node_locked_retry_timeout. Periodic tasks pass 0: they skip a busy
        # node rather than wait behind an operator's request.
        self.lock_timeout = lock_timeout
        self.shared = shared
        self.purpose = purpose
        self.owner = None
        self.lease_lost = False
        self.renewed_at = time.monotonic()
        #: Monotonic time until which :meth:`confirm_lease` asks nothing.
        self.lease_fresh_until = math.inf
        self._stop_error = None
        self._spawn = None
        self._released = False
        self._lease_dropped = False
        self._on_release = []
        self._txn = None
        self._saved_in_txn = []
        #: What ``prepare`` returned.
        self.prepared = None
        self._registry = registry
        self._on_interrupt = on_interrupt
        if shared:
            self._setup(db_api.get_node(node_id))
            if prepare is not None:
                self.prepared = prepare(self)
            return
        self.owner = make_owner()
        try:
            self._reserve(node_id, prepare, publish=publish)
            LEASES.add(self)
            for changed in self._saved_in_txn:
                node_history.record_saved(self.node, changed, self.context, self.purpose)
            self._saved_in_txn = []
        except KeyboardInterrupt:
            # No ``with`` block will run __exit__: the lease, if the statement
            # that took it committed, is let go of here.
            if hasattr(self, "node"):
                self._interrupted()
            raise

    def _interrupted(self):
        """Ctrl-C while this task may hold its lease: ``on_interrupt``, then release."""
        if self._on_interrupt is not None and not self._lease_dropped:
            self._on_interrupt(self)
        self.release_resources()

    def _setup(self, record):
        """The node and its composed driver, from the row just read."""
        self.node = Node(record)
        self.logger = driver_task.NodeLoggerAdapter(
            driver_task.LOG, {"node": self.node.ident})
        self.driver = (self._registry or factory.get_registry()).compose(self.node)

    def __repr__(self):
        return "<task %s %s %s>" % (self.node.uuid, "shared" if self.shared else self.owner,
                                     self.purpose)

    def _lock_wait(self):
        """Seconds to wait for a busy node: the caller's, the request's, or config's."""
        if self.lock_timeout is not None:
            return self.lock_timeout
        wait = getattr(self.context, "lock_wait", None)
        return CONF.conductor.node_locked_retry_timeout if wait is None else wait

    def _reserve(self, ident, prepare=None, setup=True, publish=None):
        """Take the lease on ``ident``, set up the task, and run ``prepare``.

        The lease and the read are one statement when the node is free (the
        common case), in one transaction with ``prepare`` and its writes;
        only a busy or unknown node costs more reads. A busy node is tried
        again with a growing pause, each attempt one short transaction, so
        no database connection is held while waiting; a node a worker is
        provisioning (verifying, cleaning...) is not waited for: that takes
        far longer than any request should hang.
        """
        timeout = self._lock_wait()
        deadline = time.monotonic() + timeout
        pause = CONF.conductor.node_locked_retry_interval
        known = None
        duration = CONF.conductor.lease_duration
        lease = datetime.timedelta(seconds=duration)  # from the database's clock
        while True:
            # Before the statement reads the clock, so the renewal is never later
            # than the expiry it sets (renewed(), inline: every task takes this path).
            self.renewed_at = time.monotonic()
            self.lease_fresh_until = self.renewed_at + duration * FRESH_PART
            with db_api.write_transaction() as txn:
                record = db_api.reserve_and_get_node(ident, self.owner, lease,
                                                     txn=txn, publish=publish)
                if record is not None:
                    if setup:
                        self._setup(record)
                    if prepare is not None:
                        self._txn = txn
                        try:
                            self.prepared = prepare(self)
                        finally:
                            self._txn = None
                    return
            if known is None:  # once: NodeNotFound when there is none
                known = db_api.get_node(ident)
                ident = known["id"]
            else:  # deleted while this waited: said now, not at the deadline
                _reservation_of(known)
            long_running = known.get("provision_state") in _LONG_STATES
            remaining = deadline - time.monotonic()
            if remaining <= 0 or long_running:
                holder, _ = _reservation_of(known)
                if long_running:
                    holder = "%s (%s in progress)" % (holder or "another task",
                                                      known["provision_state"])
                error = exception.NodeLocked(
                    node=known.get("name") or known["uuid"],
                    holder=holder or "another task (just released)")
                error.retry_after = (LONG_RETRY_AFTER if long_running
                                     else SHORT_RETRY_AFTER)
                raise error
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 1.0)

    # -- the lease -----------------------------------------------------------------

    def renewed(self, at, duration):
        """The lease was renewed at ``at`` (monotonic) for ``duration`` seconds."""
        self.renewed_at = at
        self.lease_fresh_until = at + duration * FRESH_PART

    def confirm_lease(self):
        """Return if this task may send its next command to the hardware, else LeaseLost.

        Called by :func:`hwdrivers.drivers.retry.run` before every attempt.
        A lease renewed recently is held (one clock read, no database); a
        shared task has none to hold. Otherwise the lease is renewed now,
        and a task that no longer holds it is stopped: a process paused past
        its lease's expiry must not send the rest of an action (the "on" of
        a power cycle, a boot device) while another conductor drives the
        machine. Its last write was refused anyway; now its commands are too.
        """
        if time.monotonic() < self.lease_fresh_until:
            return
        self._confirm_lease_slowly()

    def _confirm_lease_slowly(self):
        if self._stop_error is not None:  # said and recorded once already
            raise self._stop_error
        duration = CONF.conductor.lease_duration
        now = time.monotonic()
        age = now - self.renewed_at
        if self._lease_dropped:
            raise self._stopped(age, duration, "was released by this task already")
        if not self.lease_lost:
            try:
                held = db_api.renew_reservation(
                    self.node.id, self.owner, datetime.timedelta(seconds=duration))
            except Exception as exc:
                error = self._stopped(age, duration, "could not be confirmed: the "
                                      "database did not answer (%s)" % type(exc).__name__)
                self.logger.error("%s", error)
                raise error from None
            if held:
                self.renewed(now, duration)
                return
            self.lease_lost = True
            self.lease_fresh_until = -math.inf
            LEASES.discard(self)
        error = self._stop_error = self._stopped(
            age, duration, "expired and was taken over while this task was paused "
            "or could not renew it")
        self.logger.error("%s", error)
        try:  # only on a node nobody holds or wrote since: never over another's work
            db_api.record_lost_lease(self.node.id, self.node.updated_at, str(error))
        except Exception:
            LOG.exception("Node %s: could not record that %s was stopped",
                          self.node.uuid, self.purpose)
        raise error

    def _stopped(self, age, duration, cause):
        return exception.LeaseLost(STOPPED_ERROR % {
            "node": self.node.ident, "purpose": self.purpose, "owner": self.owner,
            "age": age, "duration": duration, "cause": cause})

    # -- bookkeeping -------------------------------------------------------------

    def save(self, release=False):
        """Save the node; for an exclusive task only while our lease holds.

        ``release=True`` (an exclusive task's last write) drops the lease in
        the same statement; the task cannot write again, and leaving the
        ``with`` block then has nothing left to release in the database.
        """
        changed = self.node.changed
        if self.shared:
            self.node.save()
        else:
            # The last write, or one in the lease's transaction, has nothing
            # to read back: no other writer can have been between.
            if release:
                # Out of the keeper before the write that drops the lease: a
                # renewal racing it must find the task gone, not its lease lost.
                # Should the write fail, leaving the block still releases it.
                LEASES.discard(self)
            self.node.save(expected_reservation=self.owner, release_lease=release,
                           refresh=not release, txn=self._txn)
            if release:
                self._lease_dropped = True
        if self._txn is not None:  # recorded once the transaction is committed
            self._saved_in_txn.append(changed)
            return
        node_history.record_saved(self.node, changed, self.context, self.purpose)

    def destroy_node(self):
        """Delete the node, in the statement that proves the lease still holds.

        The lease goes with the row: there is nothing left to release, and a
        task whose lease was lost deletes nothing (LeaseLost).
        """
        LEASES.discard(self)  # before the write, as in save(release=True)
        db_api.destroy_node(self.node.id, owner=None if self.shared else self.owner)
        self._lease_dropped = True

    def add_on_release(self, callback):
        self._on_release.append(callback)

    def upgrade_lock(self, purpose=None):
        """Turn a shared task into an exclusive one (NodeLocked if busy)."""
        if not self.shared:
            return
        self.owner = make_owner()
        self._reserve(self.node.id, setup=False)
        self.shared = False
        self.purpose = purpose or self.purpose
        self.node.refresh()
        LEASES.add(self)

    def release_resources(self):
        if self._released:
            return
        self._released = True
        if self.owner and not self.shared and not self._lease_dropped:
            LEASES.discard(self)
            node_id = self.node.id if hasattr(self, "node") else None
            if node_id is not None and not db_api.release_node(node_id, self.owner):
                LOG.warning("Node %s: lease %s was already gone at release",
                            self.node.uuid, self.owner)
        for callback in self._on_release:
            try:
                callback(self)
            except Exception:
                LOG.exception("on-release callback failed for %s", self)

    def spawn_after(self, submit, func, *args, **kwargs):
        """On a clean exit of the ``with`` block, run ``func(*args)`` via ``submit``.

        The worker owns the lock from then on and releases it when done.
        If ``submit`` refuses (:class:`NoFreeWorker`), the lock is released
        and the error propagates out of the ``with`` block.
        """
        self._spawn = (submit, func, args, kwargs)

    def _run_spawned(self, func, args, kwargs):
        """Run a worker's operation; say how it failed once, tracebacks for bugs only.

        An hwdrivers error (a BMC that does not answer, a wrong password) is
        an expected outcome: the operation recorded it in ``last_error`` and
        logged one line naming node, controller and reason, so here it gets
        its traceback at DEBUG only (one ERROR line if nothing recorded it).
        Anything else is a bug: ERROR with the traceback.
        """
        try:
            return func(*args, **kwargs)
        except exception.HWDriversError as exc:
            if str(exc) not in (self.node.last_error or ""):
                self.logger.error("%s failed: %s", self.purpose, exc)
            LOG.debug("Node %s: %s failed in a worker", self.node.uuid, self.purpose,
                      exc_info=True)
        except Exception:
            LOG.exception("Node %s: %s failed in a worker", self.node.uuid, self.purpose)
        finally:
            self.release_resources()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._interrupted()
            return False
        if exc_type is None and self._spawn is not None:
            submit, func, args, kwargs = self._spawn
            self._spawn = None
            try:
                submit(self._run_spawned, func, args, kwargs)
                return False
            except Exception:
                self.release_resources()
                raise
        self.release_resources()
        return False


def each_locked(context, provision_state, wanted, purpose, owns=None):
    """Tasks for a periodic check, one node at a time, each under its lease.

    The nodes in ``provision_state``, out of maintenance (an operator's
    hands are on those), this conductor's (``owns(node)``, when given) and
    accepted by ``wanted(node)``: checked on the row read, then again once
    the lease is held, since either may have changed between. A busy or
    deleted node is skipped: the next run looks at it again.
    """
    def accepted(node):
        return (node.provision_state == provision_state and not node.maintenance
                and (owns is None or owns(node)) and wanted(node))

    for record in db_api.list_nodes(filters={"provision_state": provision_state}):
        if not accepted(Node(record)):
            continue
        try:
            with acquire(context, record["id"], purpose=purpose, lock_timeout=0) as task:
                if accepted(task.node):
                    # Opened here, not at the first driver call: a node whose key
                    # was lost is skipped, and the nodes after it still checked.
                    task.node.driver_info  # noqa: B018 - decrypts, or raises
                    yield task
        except (exception.NodeLocked, exception.NodeNotFound):
            continue
        except secrets.SecretUnreadable as exc:
            LOG.error("%s: skipped: %s", purpose, exc)


def _reservation_of(known):
    """``db_api.get_reservation`` of the node read as ``known``; NodeNotFound
    naming it as its caller knows it (name or UUID), not by its database id."""
    try:
        return db_api.get_reservation(known["id"])
    except exception.NodeNotFound:
        raise exception.NodeNotFound(node=known.get("name") or known["uuid"]) from None


def acquire(context, node_id, shared=False, purpose="unspecified action", registry=None,
            lock_timeout=None, prepare=None, publish=None, on_interrupt=None):
    """A :class:`TaskManager` for ``node_id`` (id, UUID or name); use with ``with``.

    ``lock_timeout`` overrides ``[conductor] node_locked_retry_timeout`` (0:
    one attempt, NodeLocked at once). ``publish`` is set with the lease and
    ``prepare(task)`` runs in the lease's transaction (see the module's
    docstring); its result is ``task.prepared``; ``on_interrupt(task)`` runs
    if Ctrl-C lands while the lease is held.
    """
    if publish and shared:
        raise ValueError("a shared task takes no lease to publish with")
    return TaskManager(context, node_id, shared=shared, purpose=purpose, registry=registry,
                       lock_timeout=lock_timeout, prepare=prepare, publish=publish,
                       on_interrupt=on_interrupt)
