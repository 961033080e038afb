"""The conductor service: what ``hwdrivers-server`` runs next to the API.

:class:`ConductorService` owns the pieces that live as long as the process:
the bounded worker pool behind asynchronous operations, the conductor's row
and heartbeat, the periodic power-state sync and the maintenance-recovery
periodic. ``start()`` first repairs what a previous life of this conductor
(same ``[DEFAULT] host``) left behind when it died: its leases are released
at once rather than waited out, and operations it was running are marked
aborted (pending power targets cleared, transient provision states moved
to their failed state), each with a ``last_error`` saying so — a restart
loses no node and leaves none locked or pretending to be busy.

``stop()`` (SIGTERM) stops taking work, marks a partitioned conductor
offline so the others serve its nodes meanwhile, gives in-flight operations
``[conductor] graceful_shutdown_timeout`` to finish, then releases every
lease still held, marking what did not finish as aborted, and marks the
conductor offline.

With ``partitioned=True`` (``hwdrivers-conductor``, several conductors on
one PostgreSQL database) the conductor joins its group's hash ring
(conductor/hash_ring.py): its power sync, power-failure recovery and the
deploy and inspection timeouts and clean-ups act only on the nodes it owns,
and it acts only while its own heartbeat is fresh. A conductor that was paused
(SIGSTOP, a VM freeze) longer than ``heartbeat_timeout`` has been presumed
dead by the others, which released its leases, cleared its in-flight
targets and took its nodes; on waking it acts on nothing until its next
heartbeat has rejoined it to the ring, and anything it was doing fails on
the lease it lost (the lease stays the mutex).
"""

import datetime
import logging
import threading
import time

from oslo_config import cfg

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import states
from hwdrivers.conductor import cleaning
from hwdrivers.conductor import console_manager
from hwdrivers.conductor import deployments
from hwdrivers.conductor import inspection
from hwdrivers.conductor import hash_ring
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import power_sync
from hwdrivers.conductor import task_manager
from hwdrivers.conductor import workers as workers_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from hwdrivers.drivers.modules import ssh
from hwdrivers.objects import node as node_obj

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

RESTART_ERROR = ("The operation was aborted by a conductor restart: conductor %s "
                 "stopped while it was in progress. Check the node's state and retry.")
SHUTDOWN_ERROR = ("The operation was aborted by a conductor shutdown: conductor %s "
                  "stopped before it finished (graceful_shutdown_timeout = %ss). Check "
                  "the node's state and retry.")

DEAD_ERROR = ("The operation was aborted: conductor %s stopped heartbeating (silent "
              "longer than heartbeat_timeout = %ss) while it was in progress. Check "
              "the node's state and retry.")

#: Where a node caught working in a provision state goes when its worker died.
_ORPHAN_PROVISION_FAILURES = {
    state.value: states.FAILURE_STATES[state].value for state in states.ACTIVE_STATES}


#: The provision states of the nodes a conductor takes over from one that left
#: (:meth:`ConductorService.take_over_departed`): deploys waiting for their
#: agent first, they are the ones in a hurry.
_ADOPTED_STATES = (states.ProvisionState.DEPLOYWAIT, states.ProvisionState.ACTIVE)


def _close_ssh_masters():
    """End the command driver's SSH control masters once no worker can use them.

    A master outlives its last command by ``[command] ssh_control_persist``
    seconds, holding a connection (and a login session) on every hypervisor
    the conductor talked to after it has stopped; a master left by one life
    could also serve the next one's first commands, on a connection opened
    with the options of the old configuration. Never fails a stop.
    """
    try:
        ssh.close_masters()
    except Exception:  # noqa: BLE001 - a stop must go on; masters also time out
        LOG.warning("Could not end the SSH control masters; they exit after "
                    "[command] ssh_control_persist seconds", exc_info=True)


class ConductorRejoining(exception.HWDriversError):
    """This conductor was paused too long and may have been presumed dead."""

    code = 503
    retry_after = 2
    fmt = ("Conductor %(host)s has not heartbeated within [conductor] heartbeat_timeout "
           "= %(timeout)ss (it was paused or cut off), so other conductors may have "
           "taken its nodes; it acts on nothing until it has rejoined. Retry.")


class _Periodic(threading.Thread):
    """Calls ``func`` every ``interval`` seconds until ``stop`` is set."""

    def __init__(self, name, interval, func, stop):
        super().__init__(name="hwdrivers-%s" % name, daemon=True)
        self.interval = interval
        self.func = func
        self.stop_event = stop

    def run(self):
        while not self.stop_event.wait(self.interval):
            try:
                self.func()
            except exception.DatabaseUnavailable as error:
                # Expected while the database is away: one line, not a traceback
                # per tick for as long as the outage lasts.
                LOG.warning("Periodic task %s: %s Next run in %ss", self.name, error,
                            self.interval)
            except Exception:  # a periodic must survive a bad tick (DB restart...)
                LOG.exception("Periodic task %s failed; next run in %ss",
                              self.name, self.interval)


class ConductorService:
    """One conductor: ``start()``, operations through ``.manager``, ``stop()``."""

    def __init__(self, conf=CONF, registry=None, partitioned=False, rpc_url=None):
        self.conf = conf
        self.hostname = conf.host
        # Case-insensitive, as a node's (see manager._lower_group).
        self.group = (conf.conductor.conductor_group or "").lower()
        self.partitioned = partitioned
        self.rpc_url = rpc_url
        self.rings = hash_ring.RingManager(conf)
        self._heartbeat_ok = None  # time.monotonic() of the last heartbeat written
        self._members = None  # the group's Membership at the last heartbeat
        self._adopting = threading.Lock()  # one take-over (take_over_departed) at a time
        self._registry = registry
        self.workers = workers_mod.WorkerPool(conf.conductor.workers_pool_size)
        self.manager = manager_mod.ConductorManager(registry=registry, workers=self.workers)
        self.consoles = console_manager.ConsoleManager(
            conf, self.hostname, self.workers, registry,
            owns=self.owns if partitioned else None)
        self.manager.consoles = self.consoles
        self.manager_context = hw_context.get_admin_context()
        self._stop = threading.Event()
        # The heartbeat stops last: a draining conductor (stop()) is alive
        # until its workers are done, or the others would presume it dead.
        self._heartbeat_stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        self.power_sync = power_sync.PowerSync(conf=conf, registry=registry,
                                               stop_event=self._stop,
                                               owns=self.owns if partitioned else None)
        self.started = False
        self.stopped = False
        #: Why the last stop() left this conductor's locks or row behind, or None.
        self.stop_problem = None

    @property
    def lease_prefix(self):
        """Every lease this conductor takes starts with this (see task_manager)."""
        return "%s:" % self.hostname

    # -- start -----------------------------------------------------------------------

    def start(self):
        """Load drivers, register, recover, start the periodics. ConfigInvalid fails fast."""
        with self._lock:
            if self.stopped:
                raise exception.HWDriversError(
                    "Conductor %s was stopped; create a new ConductorService to start "
                    "again." % self.hostname)
            if self.started:
                return
            registry = self._registry or factory.get_registry()
            self._register(registry)
            self.recover()
            self.consoles.start()  # after recover(): consoles come back in the background
            conductor = self.conf.conductor
            self._add_periodic("heartbeat", conductor.heartbeat_interval, self.heartbeat,
                               stop=self._heartbeat_stop)
            if conductor.sync_power_state_interval > 0:
                self._add_periodic("power-sync", conductor.sync_power_state_interval,
                                   self.power_sync.run_cycle)
            if self.conf.deploy.check_timeouts_interval > 0:
                self._add_periodic("deploy-timeouts", self.conf.deploy.check_timeouts_interval,
                                   self.check_deploy_timeouts)
                self._add_periodic("inspect-timeouts", self.conf.deploy.check_timeouts_interval,
                                   self.check_inspect_timeouts)
            if conductor.power_failure_recovery_interval > 0:
                self._add_periodic("power-recovery",
                                   conductor.power_failure_recovery_interval,
                                   self.power_sync.recover_failed_nodes)
            self.started = True
        LOG.info("Conductor %s started (%d workers, hardware types: %s)", self.hostname,
                 self.workers.size, ", ".join(sorted(registry.hardware_types)))

    def _register(self, registry):
        started = time.monotonic()
        db_api.register_conductor(self.hostname, sorted(registry.hardware_types),
                                  conductor_group=self.group, rpc_url=self.rpc_url)
        self._heartbeat_ok = started
        self.rings.refresh()

    # -- membership ------------------------------------------------------------------

    def can_act(self) -> bool:
        """True while the others cannot have presumed this conductor dead.

        That is: its last heartbeat was written less than ``heartbeat_timeout``
        ago (monotonic clock, which runs on while the process is paused).
        """
        if not self.partitioned:
            return True
        last = self._heartbeat_ok
        return (last is not None and time.monotonic() - last
                < self.conf.conductor.heartbeat_timeout)

    def check_can_act(self, method=None, params=None):
        """Raise ConductorRejoining (503) unless :meth:`can_act`; for RPC calls."""
        if not self.can_act():
            raise ConductorRejoining(host=self.hostname,
                                     timeout=self.conf.conductor.heartbeat_timeout)

    def owns(self, node) -> bool:
        """True when ``node`` is this conductor's on its group's ring, and it may act."""
        if (node.conductor_group or "") != self.group or not self.can_act():
            return False
        ring = self.rings.ring(self.group, node.driver)
        if ring is None:
            return False
        return ring.owner(hash_ring.node_key(self._registry or factory.get_registry(),
                                             node)) == self.hostname

    def _share(self):
        """What the periodics pass as ``owns``: :meth:`owns` when partitioned, else None
        (``hwdrivers-server`` is the only conductor: every node is its own)."""
        return self.owns if self.partitioned else None

    def check_deploy_timeouts(self):
        """The deploy-timeouts periodic, over the nodes this conductor owns.

        Cleanings a dead or stopped conductor cut short are tidied there too.
        """
        cleaning.tidy_orphans(self.manager_context, owns=self._share())
        return deployments.check_timeouts(owns=self._share())

    def check_inspect_timeouts(self):
        """The inspection-timeouts periodic, over the nodes this conductor owns."""
        return inspection.check_timeouts(owns=self._share())

    def _add_periodic(self, name, interval, func, stop=None):
        thread = _Periodic(name, interval, func, self._stop if stop is None else stop)
        thread.start()
        self._threads.append(thread)

    def recover(self):
        """Undo what a previous life of this conductor left: leases, targets, states.

        Returns the ids of the nodes whose bookkeeping was repaired.
        """
        released = db_api.release_reservations_with_prefix(self.lease_prefix)
        changed = db_api.abort_orphaned_operations(
            released, RESTART_ERROR % self.hostname, _ORPHAN_PROVISION_FAILURES)
        if released or changed:
            LOG.warning("Conductor %s: released %d stale lock(s) and marked %d "
                        "interrupted operation(s) as aborted", self.hostname,
                        len(released), len(changed))
        # Says which clean step the restart cut (also each deploy-timeouts tick,
        # for the nodes of conductors that died or stopped).
        cleaning.tidy_orphans(self.manager_context, owns=self._share())
        return changed

    def heartbeat(self):
        """Tell the other conductors (and ``conductor list``) we are alive.

        Then reap conductors that stopped heartbeating: see :meth:`reap_dead`.
        While :meth:`stop` drains the workers it only keeps the row fresh:
        it neither rejoins the ring nor judges or adopts anything.
        """
        registry = self._registry or factory.get_registry()
        started = time.monotonic()  # before the write: others count from it
        try:
            online = db_api.touch_conductor(self.hostname)
        except exception.ConductorNotFound:
            online = None
        if self._stop.is_set():
            if online:
                self._heartbeat_ok = started
            return
        if not online:
            if online is False:
                LOG.warning("Conductor %s was presumed dead by another conductor (no "
                            "heartbeat for [conductor] heartbeat_timeout = %ss): its "
                            "locks were released and its nodes moved; rejoining the "
                            "ring", self.hostname, self.conf.conductor.heartbeat_timeout)
            self._register(registry)
        else:
            self._heartbeat_ok = started
        self.reap_dead()
        if self.partitioned:
            self.take_over_departed()

    def reap_dead(self):
        """Repair after conductors silent for ``[conductor] heartbeat_timeout``.

        A conductor that died without restarting would leave its leases to
        expire and its operations pending forever; a live one marks it
        offline, releases its leases and marks its operations aborted, as
        that conductor's own restart would. Returns the hostnames reaped.

        Heartbeats are stamped and judged on the database's clock, and each
        reap is a compare-and-set on the heartbeat (``db_api.reap_conductor``):
        one that heartbeated since it was read here, or that another
        conductor reaped first, is left alone, so its locks are released once.
        """
        timeout = datetime.timedelta(seconds=self.conf.conductor.heartbeat_timeout)
        cutoff = db_api.conductor_clock_now() - timeout
        reaped = []
        for conductor in db_api.list_conductors():
            host = conductor["hostname"]
            if self.partitioned and not self.can_act():
                break  # we may be the one presumed dead: judge nobody
            if (host == self.hostname or not conductor["online"]
                    or conductor["updated_at"] is None or conductor["updated_at"] >= cutoff):
                continue
            released = db_api.reap_conductor(
                host, cutoff, DEAD_ERROR % (host, self.conf.conductor.heartbeat_timeout),
                _ORPHAN_PROVISION_FAILURES)
            if released is None:
                continue  # it heartbeated meanwhile, or another conductor reaped it
            LOG.warning("Conductor %s: no heartbeat for %ss; marked offline, %d lock(s) "
                        "released", host, self.conf.conductor.heartbeat_timeout,
                        len(released))
            reaped.append(host)
        if reaped and self.partitioned:
            self.rings.refresh()  # their nodes are ours (or others') from now on
        return reaped

    def take_over_departed(self):
        """Adopt the deployed and deploying nodes of conductors that left the ring.

        As Ironic's take-over: when a conductor of the group dies or stops
        (or comes back without a hardware type it had: its nodes of that
        type move, although its name never left the ring), each survivor
        calls ``deploy.take_over(task)`` on the nodes in ``active`` or ``wait
        call-back`` that were the departed one's and are its own now, so
        whatever the deploy interface keeps per conductor (boot
        configuration) is prepared here. A deploy waiting for its agent then
        goes on here with the agent's next heartbeat. Nodes in a transient
        state (``deploying``...) were failed by :meth:`reap_dead`: their
        worker died with the conductor.

        The adoption runs in a thread of its own, one node after another,
        which this returns (None when no conductor left nor dropped a type).
        It ran in the heartbeat that noticed, and overflowed into it from a
        full worker pool: thousands of nodes kept that heartbeat from being
        written for longer than ``heartbeat_timeout``, so the survivor was
        presumed dead in turn, and the take-overs filled the pool API
        actions need.
        """
        members = self.rings.membership(self.group)
        previous, self._members = self._members, members
        if (previous is None or members is None or not previous.dropped_by(members)
                or not self.can_act()):
            return None
        thread = threading.Thread(target=self._adopt, name="hwdrivers-take-over",
                                  args=(previous, members), daemon=True)
        thread.start()
        return thread

    #: Nodes read per page while looking for the nodes to adopt.
    ADOPT_PAGE = 500

    def _adopt(self, old_members, members):
        """Take over the nodes that ``members`` (a :class:`hash_ring.Membership`)
        gives us, each on the ring of its hardware type, whose owner among
        ``old_members`` no longer drives their type: it left the ring, or came
        back without the type (a restart between two of our heartbeats).

        A node locked meanwhile (an operation the departed conductor is
        still draining, or one of ours) is tried again every
        :data:`ADOPT_RETRY` seconds once the others are done, as long as it
        is still ours and still deployed, for up to ``[conductor]
        graceful_shutdown_timeout`` plus a lease's life: a drain holds its
        locks no longer. Returns the UUIDs taken over. Departures are
        adopted one after another.
        """
        adopted = []
        busy = {}  # uuid: the host it was taken from
        with self._adopting:
            try:
                registry = self._registry or factory.get_registry()
                for state in _ADOPTED_STATES:
                    marker = None
                    while True:
                        rows = db_api.list_nodes(filters={"provision_state": state.value},
                                                 limit=self.ADOPT_PAGE, marker=marker)
                        for row in rows:
                            if self._stop.is_set() or not self.can_act():
                                return adopted
                            node = node_obj.Node(row)
                            if (node.conductor_group or "") != self.group:
                                continue
                            old_ring = old_members.ring(node.driver)
                            ring = members.ring(node.driver)
                            if old_ring is None or ring is None:
                                continue
                            key = hash_ring.node_key(registry, node)
                            previous_host = old_ring.owner(key)
                            if (members.enables(previous_host, node.driver)
                                    or ring.owner(key) != self.hostname):
                                continue
                            done = self._take_over(node, previous_host)
                            if done is True:
                                adopted.append(node.uuid)
                            elif done is None:
                                busy[node.uuid] = previous_host
                        if len(rows) < self.ADOPT_PAGE:
                            break
                        marker = rows[-1]["uuid"]
                self._adopt_busy(busy, adopted)
            except Exception:
                LOG.exception("Conductor %s: taking over the nodes of departed conductors "
                              "stopped after %d", self.hostname, len(adopted))
        return adopted

    #: Seconds between tries at a node that was locked when it was to be taken over.
    ADOPT_RETRY = 2.0

    def _adopt_busy(self, busy, adopted):
        """Try again, until they are free, the nodes :meth:`_adopt` found locked
        (as long as they are still deployed and :meth:`owns` says ours)."""
        give_up = time.monotonic() + (self.conf.conductor.graceful_shutdown_timeout
                                      + 2 * self.conf.conductor.heartbeat_timeout)
        while busy:
            if self._stop.wait(self.ADOPT_RETRY) or not self.can_act():
                return
            if time.monotonic() > give_up:
                LOG.warning("Conductor %s: %d node(s) stayed locked and were not taken "
                            "over (their deploy interface's take_over was not called): %s",
                            self.hostname, len(busy), ", ".join(sorted(busy)))
                return
            for uuid, previous_host in list(busy.items()):
                try:
                    node = node_obj.Node(db_api.get_node(uuid))
                except exception.NodeNotFound:
                    del busy[uuid]
                    continue
                if node.provision_state not in _ADOPTED_STATES or not self.owns(node):
                    del busy[uuid]  # no longer deployed here: nothing to take over
                    continue
                done = self._take_over(node, previous_host)
                if done is not None:
                    del busy[uuid]
                    if done:
                        adopted.append(uuid)

    def _take_over(self, node, previous_host):
        """``deploy.take_over`` on ``node``, in this thread: True if it was done, None
        when the node is locked (to be tried again), False when it cannot be."""
        try:
            with task_manager.acquire(self.manager_context, node.id, purpose="take over",
                                      registry=self._registry, lock_timeout=0) as task:
                task.driver.deploy.take_over(task)
                task.save()
        except exception.NodeLocked:
            LOG.info("Node %s: locked; taking it over from conductor %s once it is free",
                     node.ident, previous_host)
            return None
        except exception.NodeNotFound:
            return False  # deleted meanwhile
        except exception.HWDriversError as error:
            LOG.error("Node %s: taking it over from conductor %s failed: %s", node.ident,
                      previous_host, error)
            return False
        LOG.info("Node %s (%s): taken over from conductor %s, which left the ring",
                 node.ident, node.provision_state, previous_host)
        return True

    # -- stop ------------------------------------------------------------------------

    def _leave_ring(self):
        """Go offline before draining, so the others serve this conductor's nodes meanwhile.

        Its listener is closed for the drain: while it stayed online its
        whole share of the nodes was answered 503 for up to
        ``graceful_shutdown_timeout`` (60 s) on every rolling restart. As
        Ironic's conductor, it unregisters first; the others take its nodes
        at their next ring refresh, and the nodes its running operations
        hold stay locked (409) until those finish. The heartbeat goes on
        touching the offline row, which nobody reaps, so a long drain is not
        taken for a death. Never fails a stop: the row goes offline at its
        end anyway.
        """
        try:
            db_api.unregister_conductor(self.hostname)
        except Exception as error:  # noqa: BLE001 - the end of stop() tries again
            LOG.warning("Conductor %s: could not leave the ring before draining (%s); "
                        "its nodes move when it has stopped", self.hostname, error)
            return
        LOG.info("Conductor %s: left the ring; its nodes move to the other conductors "
                 "of group %r while its running operations finish", self.hostname,
                 self.group)

    def stop(self, timeout=None):
        """Stop taking work, let running operations finish, release every lease.

        New asynchronous operations are refused at once (NoFreeWorker, 503).
        Operations still running after ``timeout`` (default ``[conductor]
        graceful_shutdown_timeout``) lose their lease and are marked aborted.
        Returns True if everything finished in time. Safe to call twice.
        """
        with self._lock:
            if self.stopped:
                return True
            self.stopped = True
        if timeout is None:
            timeout = self.conf.conductor.graceful_shutdown_timeout
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self.partitioned and self.started:
            self._leave_ring()
        self.consoles.stop()  # they stay enabled in the database: the next start restores them
        finished = self.workers.shutdown(wait=True, timeout=timeout)
        if not self.started:
            self._heartbeat_stop.set()
            return finished  # never registered nor recovered: no lease can be ours
        for thread in self._threads:  # a sync cycle finishes the reads it started
            if thread.stop_event is self._heartbeat_stop:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            finished = finished and not thread.is_alive()
        # Alive until now, so nobody reaped what was still running here.
        self._heartbeat_stop.set()
        for thread in self._threads:
            if thread.stop_event is self._heartbeat_stop:
                thread.join(max(1.0, deadline - time.monotonic()))
        _close_ssh_masters()
        try:
            released = db_api.release_reservations_with_prefix(self.lease_prefix)
            if released:
                db_api.abort_orphaned_operations(
                    released, SHUTDOWN_ERROR % (self.hostname, timeout),
                    _ORPHAN_PROVISION_FAILURES)
                LOG.warning("Conductor %s: %d operation(s) did not finish within %ss; "
                            "their locks were released and they were marked aborted",
                            self.hostname, len(released), timeout)
            db_api.unregister_conductor(self.hostname)
        except Exception as error:
            LOG.exception("Conductor %s: could not release locks or go offline; a "
                          "restart with the same host name repairs it", self.hostname)
            self.stop_problem = (
                "could not release this conductor's node locks or mark it offline (%s); "
                "until a restart with the same [DEFAULT] host %s, or until their "
                "leases expire, its nodes stay locked" % (
                    str(error).strip().splitlines()[0] if str(error).strip()
                    else type(error).__name__, self.hostname))
            return False
        LOG.info("Conductor %s stopped%s", self.hostname,
                 "" if finished else " (some operations were aborted)")
        return finished
