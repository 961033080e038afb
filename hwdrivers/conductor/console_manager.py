"""The console manager: every serial-console proxy of one conductor.

One :class:`ConsoleManager` per conductor (``ConductorService.consoles``)
owns the TCP ports of ``[console] port_range`` and one
:class:`~hwdrivers.conductor.console_relay.Relay` per enabled console. It is
the runner the console interfaces hand their session to
(:mod:`hwdrivers.drivers.modules.console_base`).

- **Enabling** is checked in the request (the node's console interface must
  have consoles and valid driver_info: 400; a free port is taken at once:
  503 when the range is exhausted, nothing started) and done in a worker,
  which starts the session and records ``console_enabled`` when it is up,
  or ``console_error`` with the reason when it is not. The request answers
  202 and clients poll, as with Ironic. The workers are the manager's own
  (``[console] change_workers``), not the conductor's: a start waits for a
  BMC for up to ``[console] start_timeout``, and a fleet's consoles enabled
  during a BMC outage must not leave power actions without a worker.
- Console changes of proxied consoles take no node lock, so the console of
  a node being deployed can be opened while the deploy holds the lock; the
  manager serializes changes per node itself, and writes only the console
  columns.
- **Conductor restart**: consoles stay enabled in the database when the
  conductor stops (or dies); ``start()`` starts them again, and a console
  that cannot be started is turned off with the reason in
  ``console_error``, as Ironic does. Its processes cannot survive the old
  conductor (the relay's supervisor kills them when it dies), and every
  session begins with the driver's cleanup (``sol deactivate``).
- A periodic check stops proxies whose node was deleted or whose console
  was turned off behind the manager's back. With several conductors
  (``hwdrivers-conductor``), each serves the consoles of the nodes the hash
  ring gives it, restores only those, and the check hands consoles over
  when the ring changes: two conductors never hold one BMC's SOL session
  (each one's ``sol deactivate`` would end the other's).
"""

import collections
import concurrent.futures
import errno
import hashlib
import ipaddress
import json
import logging
import socket
import threading
import time

import sqlalchemy as sa
from oslo_config import cfg

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import network as hw_network
from hwdrivers.conductor import console_log
from hwdrivers.conductor import console_relay
from hwdrivers.conductor import node_history
from hwdrivers.conductor import task_manager
from hwdrivers.conductor import workers as workers_mod
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from hwdrivers.db.models import nodes
from hwdrivers.drivers.modules import console_base
from hwdrivers.objects import node as node_obj

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

#: Seconds between checks for proxies whose node was deleted or turned off.
SYNC_INTERVAL = 30.0
#: Nodes read per query by the sync's ownership check and file sweep.
SYNC_BATCH = 500
#: Every how many syncs the console directory is swept for deleted nodes' files.
SWEEP_EVERY = 10
#: Seconds the enable's worker waits beyond [console] start_timeout, which
#: bounds the whole start (cleanup included; the relay enforces it): to
#: kill what the start ran and for the relay to say so.
START_MARGIN = 10.0
#: Connections a console's port queues until the relay accepts them (and
#: serves or refuses them): with 2, clients beyond the second of a burst (a
#: script or a dashboard opening many consoles, retries) had their SYN
#: dropped and waited for the kernel's 1, 3... s retransmissions. The kernel
#: caps it at net.core.somaxconn; a queued connection costs nothing until
#: one arrives.
LISTEN_BACKLOG = 128
#: Consoles started at once when the conductor starts.
RESTORE_CONCURRENCY = 8

#: console_state while a disable is under way (the relay's states are the others).
STOPPING = "stopping"

CUT_SHORT = ("the console enable was cut short: conductor %s stopped before the "
             "console came up; enable it again")
RESTART_FAILED = ("the console was not started again after conductor %s restarted: %s")


class ConsolePortsExhausted(exception.HWDriversError):
    fmt = ("No free console port: every port of [console] port_range %(range)s is taken "
           "(%(ours)d by this conductor's consoles, %(others)d by other programs); "
           "disable a console or widen the range. Nothing was started.")
    code = 503


class ConsolePortTaken(exception.Conflict):
    fmt = ("Node %(node)s: its ipmi_terminal_port %(port)d is %(holder)s; choose "
           "another port or unset it to take one of [console] port_range.")


class ConsoleChangeInProgress(exception.Conflict):
    fmt = ("Node %(node)s: a console change (%(change)s) is already in progress; retry "
           "when it is done.")


class ConsoleStartFailed(exception.HWDriversError):
    fmt = "Node %(node)s: the console did not start: %(reason)s"
    code = 500


def _is_wildcard(host):
    return host in ("", "0.0.0.0", "::", "*")


def _primary_address(family):
    """The source address of this machine's default route (no packet is sent), or None."""
    probe = ("2001:db8::1", 9) if family == socket.AF_INET6 else ("192.0.2.1", 9)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(probe)
            address = sock.getsockname()[0]
    except OSError:
        return None
    if ipaddress.ip_address(address.split("%", 1)[0]).is_unspecified:
        return None
    return address


def public_address(conf):
    """The host clients connect to (console URLs), or ConfigInvalid naming the option.

    ``[console] public_address``; unset, ``[console] host``, or this machine's
    primary address when host is a wildcard. Never ``[DEFAULT] host``: that
    is the conductor's name, which clients may not be able to resolve.
    """
    option = "[console] public_address"
    wanted = (conf.console.public_address or "").strip()
    if wanted:
        if not hw_network.is_advertisable(wanted):
            raise exception.ConfigInvalid(
                "[console] public_address = %r: give the host name or IP address "
                "clients reach this conductor's consoles at, without scheme, port or "
                "path, and not a wildcard (e.g. cond-03.example or 10.0.1.13)"
                % wanted[:80], option=option)
        return wanted
    host = conf.console.host
    if not _is_wildcard(host):
        return host
    family = socket.AF_INET6 if host == "::" else socket.AF_INET
    found = _primary_address(family)
    if found is None:
        raise exception.ConfigInvalid(
            "[console] host = %s listens on every address, and this machine has no "
            "default route to tell which one clients reach: set [console] "
            "public_address to the host name or address clients connect to"
            % (host or "''"), option=option)
    return found


class PortPool:
    """The ports of ``[console] port_range``; a port is ours once we listen on it.

    A console without a port of its own gets a port no console has used yet,
    lowest first, and only when none is left the one freed longest ago. Lowest
    first handed a console disabled a moment ago its port to the next node
    enabled: the old node's users, reconnecting to the URL they had (a
    ``socat`` loop, a bookmark, a dashboard), typed on another machine.
    """

    def __init__(self, host, port_range):
        self.host = host
        self.port_range = port_range
        first, last = (int(p) for p in port_range.split(":"))
        self.ports = range(first, last + 1)
        self.taken = set()
        #: port -> when a console last had it (time.time(); ports files' mtimes
        #: for what consoles had before this process, see :meth:`remember`).
        self.last_used = {}
        self._lock = threading.Lock()

    def remember(self, used):
        """Ports consoles had before (``{port: when}``): handed out last."""
        with self._lock:
            for port, when in used.items():
                if port in self.ports:
                    self.last_used[port] = max(when, self.last_used.get(port, when))

    def _order(self):
        """Never used ports lowest first, then the others least recently used first."""
        return sorted(self.ports, key=lambda p: (p in self.last_used,
                                                 self.last_used.get(p, 0.0), p))

    def _family(self):
        if _is_wildcard(self.host):
            return socket.AF_INET6 if self.host == "::" else socket.AF_INET
        try:
            return socket.AF_INET6 if ipaddress.ip_address(self.host).version == 6 \
                else socket.AF_INET
        except ValueError:
            return socket.getaddrinfo(self.host, None, type=socket.SOCK_STREAM)[0][0]

    def reserve(self, wanted=None, node=None, holders=None):
        """A listening socket on the lowest free port, or ConsolePortsExhausted.

        With ``wanted`` (a node's own port), that port or ConsolePortTaken,
        naming the console that holds it (``holders``: port -> node).
        """
        family = self._family()
        others = 0
        with self._lock:
            if wanted is not None and wanted in self.taken:
                raise ConsolePortTaken(node=node, port=wanted, holder="used by the "
                                       "console of node %s" % (holders or {}).get(
                                           wanted, "another node"))
            for port in ([wanted] if wanted is not None else self._order()):
                if port in self.taken:
                    continue
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((self.host if not _is_wildcard(self.host) else
                               ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
                    sock.listen(LISTEN_BACKLOG)
                except OSError as exc:
                    sock.close()
                    if exc.errno == errno.EACCES:
                        # The port, not the host: below 1024 (or ip_unprivileged_port_start)
                        # only a privileged conductor may listen.
                        if wanted is not None:
                            raise exception.InvalidParameterValue(
                                "Node %s: its ipmi_terminal_port %d cannot be listened on "
                                "(%s: a privileged port); choose a port of [console] "
                                "port_range %s or unset it" % (
                                    node, port, exc.strerror or exc, self.port_range)
                            ) from None
                        raise exception.ConfigInvalid(
                            "consoles cannot listen on port %d of [console] port_range "
                            "%s: %s; use unprivileged ports (1024 and up)" % (
                                port, self.port_range, exc.strerror or exc),
                            option="[console] port_range") from None
                    if exc.errno != errno.EADDRINUSE:
                        raise exception.ConfigInvalid(
                            "consoles cannot listen on [console] host %s: %s; set an "
                            "address of this host" % (self.host, exc.strerror or exc),
                            option="[console] host") from None
                    if wanted is not None:
                        raise ConsolePortTaken(node=node, port=wanted,
                                               holder="in use by another program on "
                                                      "this host") from None
                    others += 1
                    continue
                sock.set_inheritable(False)
                self.taken.add(port)
                return sock
            raise ConsolePortsExhausted(range=self.port_range, ours=len(self.taken),
                                        others=others)

    def release(self, port):
        with self._lock:
            if port in self.taken:
                latest = max(self.last_used.values(), default=0.0)
                self.last_used[port] = max(time.time(), latest + 1e-6)
            self.taken.discard(port)

    def check(self):
        """ConfigInvalid (naming the option) when nothing can listen on ``host``."""
        try:
            family = self._family()
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.bind((self.host if not _is_wildcard(self.host) else
                           ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0))
        except OSError as exc:
            raise exception.ConfigInvalid(
                "consoles cannot listen on [console] host %s: %s; set an address of "
                "this host" % (self.host, exc.strerror or exc),
                option="[console] host") from None


def _fingerprint(node):
    """A digest of what a node's console command is built from, to notice it
    changed: kept for every console, it holds no copy of the BMC password."""
    text = json.dumps([node.driver, node.console_interface, node.driver_info],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).digest()


def _same_session(new, old):
    """Whether two console commands open the same session: the same programs and
    arguments (BMC, port, user...).

    Not the environment, which carries the secrets: a password rotated in
    driver_info before the BMC has it must not end a session that is up (its
    new session would be refused until the BMC changes too); the next
    restart, whatever causes it, reads the new one.
    """
    return (list(new.argv) == list(old.argv)
            and [list(a) for a in new.before] == [list(a) for a in old.before])


class ConsoleManager:
    """Start, stop, restore and describe the consoles this conductor serves."""

    def __init__(self, conf=CONF, hostname=None, workers=None, registry=None, owns=None):
        self.conf = conf
        #: With several conductors (``hwdrivers-conductor``): ``owns(node)`` says
        #: whether this one serves the node on the hash ring. None: every node.
        self.owns = owns
        self.hostname = hostname or conf.host
        #: The conductor's pool: None in a process that serves no consoles.
        self.workers = workers
        #: Console changes run here, never in the conductor's pool (see above).
        self.change_workers = workers_mod.WorkerPool(
            conf.console.change_workers, name="hwdrivers-console-change")
        self.registry = registry
        self.ports = PortPool(conf.console.host, conf.console.port_range)
        #: The host of console URLs (check_config() decides it).
        self.public_address = None
        self._relays = {}        # node uuid -> Relay
        self._reserved = {}      # node uuid -> listening socket taken by a request
        self._changing = {}      # node uuid -> "enable" / "disable"
        #: Nodes whose console a restore (or a hand-over) is starting: their
        #: relays keep retrying a first start that fails (the BMC is down).
        self._restoring = set()
        #: node uuid -> what its console command was last checked against
        #: (:func:`_fingerprint`): the sync rebuilds a command only when it changed.
        self._fingerprints = {}
        self._lock = threading.RLock()
        self._node_locks = collections.defaultdict(threading.Lock)
        self._stop = threading.Event()
        self._threads = []
        self._syncs = 0
        self.started = False

    # -- life ---------------------------------------------------------------------------

    def check_config(self):
        """ConfigInvalid naming the option when [console] cannot work; nothing changes."""
        for network in self.conf.console.allowed_clients:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise exception.ConfigInvalid(
                    "[console] allowed_clients: %r is not a network (CIDR, e.g. "
                    "10.1.0.0/24 or ::1/128)" % network,
                    option="[console] allowed_clients") from None
        self.ports.check()
        self.public_address = public_address(self.conf)
        if _is_wildcard(self.conf.console.host) and not self.conf.console.public_address:
            LOG.info("Consoles listen on every address ([console] host = %s); their "
                     "URLs name %s, this machine's primary address (set [console] "
                     "public_address to change it)", self.conf.console.host,
                     self.public_address)

    def start(self):
        """Become the console runner, start the enabled consoles again (in the background).

        A [console] setting that cannot work stops start-up (ConfigInvalid).
        """
        self.check_config()
        self.ports.remember(console_log.remembered_ports(self.conf.state_path))
        console_base.set_runner(self)
        self.started = True
        for name, target in (("console-restore", self.restore),
                             ("console-sync", self._sync_loop)):
            thread = threading.Thread(target=target, name="hwdrivers-%s" % name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self):
        """Stop every proxy; consoles stay enabled in the database for the next start."""
        self._stop.set()
        console_base.set_runner(None, replace=self)
        with self._lock:
            relays = list(self._relays.values())
            self._relays.clear()
            reserved = list(self._reserved.values())
            self._reserved.clear()
        for sock in reserved:
            self.ports.release(sock.getsockname()[1])
            sock.close()
        stoppers = [threading.Thread(target=relay.stop, daemon=True) for relay in relays]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(console_relay.QUIT_WAIT + console_relay.KILL_WAIT + 5)
        for relay in relays:
            self._forget(relay)
        for thread in self._threads:
            thread.join(5)
        # Their relays are stopped: a change still waiting for one ends now.
        self.change_workers.shutdown(wait=True, timeout=START_MARGIN)
        if relays:
            LOG.info("Console manager of %s: stopped %d console proxy(ies)", self.hostname,
                     len(relays))

    # -- requests (API) ------------------------------------------------------------------

    def set_console_mode(self, context, ident, enabled):
        """Enable or disable a node's console: checked here, done in a worker (202).

        Returns the node's UUID. Raises 400 when the node's console
        interface has no consoles or its driver_info is wrong, 503 when no
        port is free or no worker, 409 when a change is already running.
        """
        if not isinstance(enabled, bool):
            raise exception.InvalidParameterValue(
                "Field enabled must be true or false, got %r." % (enabled,))
        if self.workers is None or not self.started:
            raise exception.UnsupportedDriverExtension(
                node=ident, interface="console", implementation="this process",
                action="consoles: they are served by hwdrivers-server (use --url)")
        with task_manager.acquire(context, ident, shared=True, purpose="console",
                                  registry=self.registry) as task:
            interface = task.driver.console
            interface.validate(task)
            node_uuid = task.node.uuid
            label = task.node.ident
            proxied = isinstance(interface, console_base.ProxiedConsole)
            wanted = interface.console_port(task) if proxied else None
        with self._lock:
            change = self._changing.get(node_uuid)
            if change is not None:
                raise ConsoleChangeInProgress(node=label, change=change)
            relay = self._relays.get(node_uuid)
            if enabled and proxied and relay is None:
                self._reserved[node_uuid] = self._reserve(wanted, label, node_uuid)
            self._changing[node_uuid] = "enable" if enabled else "disable"
        try:
            self.change_workers.submit(self._change, context, node_uuid, enabled)
        except exception.NoFreeWorker:
            self._end_change(node_uuid)
            if self.change_workers.stopping:
                raise
            raise exception.NoFreeWorker(
                "Node %s: %d console changes are already running on conductor %s "
                "([console] change_workers); retry when they are done, or raise "
                "the option" % (label, self.change_workers.size, self.hostname)
            ) from None
        except BaseException:
            self._end_change(node_uuid)
            raise
        return node_uuid

    def _end_change(self, node_uuid):
        with self._lock:
            self._changing.pop(node_uuid, None)
            sock = self._reserved.pop(node_uuid, None)
        if sock is not None:
            self.ports.release(sock.getsockname()[1])
            sock.close()

    def _change(self, context, node_uuid, enabled):
        try:
            with self._node_locks[node_uuid]:
                self._apply(context, node_uuid, enabled)
        except Exception as exc:
            if self._stop.is_set():
                # The conductor is stopping. A console already enabled stays so
                # (the next start restores it); an enable still starting was
                # never recorded, and would come back "off" with no reason as if
                # nobody had asked (202): say so, so it can be asked again.
                LOG.info("Node %s: console change cut short by the conductor stopping",
                         node_uuid)
                if enabled and not self._recorded_enabled(node_uuid):
                    self._record(node_uuid, None, CUT_SHORT % self.hostname)
                return
            reason = str(exc) if isinstance(exc, exception.HWDriversError) else (
                "unexpected error: %s" % exc)
            if not isinstance(exc, exception.HWDriversError):
                LOG.exception("Node %s: console %s failed", node_uuid,
                              "enable" if enabled else "disable")
            else:
                LOG.error("Node %s: console %s failed: %s", node_uuid,
                          "enable" if enabled else "disable", reason)
            self._record(node_uuid, False if enabled else None, reason)
        finally:
            self._end_change(node_uuid)

    def _apply(self, context, node_uuid, enabled):
        with task_manager.acquire(context, node_uuid, shared=True, purpose="console",
                                  registry=self.registry) as task:
            interface = task.driver.console
            if not getattr(interface, "console_needs_lock", True):
                self._start_or_stop(task, enabled)
                if not self._record(node_uuid, enabled, None) and enabled:
                    # Deleted while it came up: the delete found no proxy to
                    # stop yet, and the sync would leave it serving the
                    # deleted node's machine for up to SYNC_INTERVAL.
                    LOG.info("Node %s: deleted while its console came up; stopping it",
                             node_uuid)
                    self.stop_proxy(task)
                return
        purpose = "console %s" % ("enable" if enabled else "disable")
        with task_manager.acquire(context, node_uuid, purpose=purpose,
                                  registry=self.registry) as task:
            self._start_or_stop(task, enabled)
            task.node.console_enabled = enabled
            task.node.console_error = None
            task.save()

    @staticmethod
    def _start_or_stop(task, enabled):
        if enabled:
            task.driver.console.start_console(task)
        else:
            task.driver.console.stop_console(task)

    @staticmethod
    def _recorded_enabled(node_uuid):
        """Whether the node's console is enabled in the database (True when the node is gone)."""
        try:
            return bool(db_api.get_node(node_uuid)["console_enabled"])
        except exception.NodeNotFound:
            return True  # nothing to record on a node that is gone

    @staticmethod
    def _record(node_uuid, enabled, error):
        """Write the console columns only (no lock needed: nothing else writes them).

        An error also goes to the node's history (``hwdrivers node history``),
        as Ironic's console failures do through last_error: console_error
        keeps only the latest, and a console that went off at night and was
        enabled again in the morning left no trace of why. False when the
        node is gone.
        """
        values = {"console_error": error}
        if enabled is not None:
            values["console_enabled"] = enabled
        try:
            node = db_api.get_node(node_uuid)
            db_api.update_node(node["id"], values)
        except exception.NodeNotFound:
            return False
        if error:
            node_history.record(node["id"], "ERROR", "console", "console: %s" % error,
                                None)
        return True

    def get_console(self, context, ident):
        """Ironic's console document, plus the proxy's state and the last error."""
        with task_manager.acquire(context, ident, shared=True, purpose="console info",
                                  registry=self.registry) as task:
            node = task.node
            enabled = bool(node.console_enabled)
            info = None
            if enabled:
                try:
                    info = task.driver.console.get_console(task)
                except exception.HWDriversError:
                    info = None
            with self._lock:
                relay = self._relays.get(node.uuid)
                change = self._changing.get(node.uuid)
            relay_state = None
            if relay is not None:
                with relay.transition:  # a failure is recorded before the relay says it
                    relay_state = relay.state
            if change == "enable":
                # Not done until the change is over: up and even recorded, a
                # client that then asked for a disable got 409 "a console change
                # (enable) is already in progress" (and likewise below).
                state = console_relay.STARTING
            elif change == "disable":
                # The proxy may be gone and "off" recorded, but the change is not
                # over yet: an enable right after "off" was refused with 409.
                return {"console_enabled": enabled, "console_info": None,
                        "console_state": STOPPING, "console_error": node.console_error}
            elif relay_state == console_relay.FAILED:
                if relay.ever_up or relay.retrying:
                    # Recorded before the relay said failed, perhaps after `node`
                    # was read: report what was recorded (_relay_failed), not a
                    # record that still says enabled beside a failed relay.
                    return {"console_enabled": False, "console_info": None,
                            "console_state": console_relay.FAILED,
                            "console_error": relay.reason}
                # A start that failed: whoever started it records the outcome
                # and forgets the relay next; until then it is still starting.
                state = console_relay.STARTING
            elif relay is not None:
                state = relay_state
                if relay_state == console_relay.RESTARTING and relay.last_error:
                    # Why it is down, until it is back or given up (recorded then).
                    return {"console_enabled": enabled, "console_info": info,
                            "console_state": state, "console_error": relay.last_error}
            elif enabled:
                state = "on" if info is not None else console_relay.STARTING
            else:
                state = "failed" if node.console_error else "off"
            return {"console_enabled": enabled, "console_info": info,
                    "console_state": state, "console_error": node.console_error}

    def read_log(self, context, ident, nbytes):
        """The last ``nbytes`` of the node's console log (b"" when it has none)."""
        node = db_api.get_node(ident)
        return console_log.tail(
            console_log.log_path(self.conf.state_path, node["uuid"]), nbytes,
            self.conf.console.log_backups)

    # -- the runner (console interfaces call these) ------------------------------------------

    def _url_host(self):
        host = self.public_address or public_address(self.conf)
        return "[%s]" % host if ":" in host else host

    def _info(self, relay):
        return {"type": "socat", "url": "tcp://%s:%d" % (self._url_host(), relay.port_number)}

    def start_proxy(self, task, command):
        node_uuid = task.node.uuid
        with self._lock:
            relay = self._relays.get(node_uuid)
            if relay is not None and relay.state not in (console_relay.FAILED,
                                                         console_relay.STOPPED):
                return self._info(relay)
            sock = (self._reserved.pop(node_uuid, None)
                    or self._reserve(command.port, task.node.ident, node_uuid))
            conf = self.conf.console
            log = console_log.ConsoleLog(
                console_log.log_path(self.conf.state_path, node_uuid),
                conf.log_max_bytes, conf.log_backups)
            relay = console_relay.Relay(node_uuid, task.node.ident, command, sock, log, conf,
                                        self._relay_failed, self._relay_closed,
                                        refresh=lambda: self._current_command(node_uuid),
                                        retry_start=node_uuid in self._restoring)
            self._relays[node_uuid] = relay
            # What its command was built from: the sync rebuilds it only on a change.
            self._fingerprints[node_uuid] = _fingerprint(task.node)
        relay.start()
        state = relay.wait_outcome(conf.start_timeout + START_MARGIN)
        if relay.retrying:
            # Restored while its BMC does not answer: the relay retries with
            # the restart backoff and records the outcome itself.
            LOG.warning("Node %s: its console did not come back yet (%s); retrying up "
                        "to [console] restart_limit times", task.node.ident,
                        relay.last_error)
            return self._info(relay) if state == console_relay.RESTARTING else None
        if state != console_relay.ON:
            reason = relay.reason or "it did not come up in time"
            relay.stop()
            self._forget(relay)
            raise ConsoleStartFailed(node=task.node.ident, reason=reason)
        LOG.info("Node %s: console up on port %d", task.node.ident, relay.port_number)
        try:
            console_log.write_port(
                console_log.port_path(self.conf.state_path, node_uuid), relay.port_number)
        except OSError as exc:
            LOG.warning("Node %s: cannot record its console port (%s); after a restart "
                        "it may get another one", task.node.ident, exc.strerror or exc)
        return self._info(relay)

    def _current_command(self, node_uuid):
        """The node's console command from its driver_info now (a relay's restart)."""
        context = hw_context.get_admin_context()
        with task_manager.acquire(context, node_uuid, shared=True,
                                  purpose="console restart", registry=self.registry) as task:
            interface = task.driver.console
            if not isinstance(interface, console_base.ProxiedConsole):
                return None
            return interface.console_command(task)

    def _reserve(self, wanted, label, node_uuid=None):
        """A port for a console (the caller holds ``self._lock``).

        Without a port of its own (``wanted``), the port the node's console
        had last on this conductor when it is free: ports were handed out
        lowest first, so after a restart (consoles restored in node order) or
        a disable and enable a console could get another node's old port, and
        a client reconnecting to the URL it had would type on another
        machine.
        """
        holders = {r.port_number: r.label for r in self._relays.values()}
        if wanted is None and node_uuid is not None:
            previous = console_log.read_port(
                console_log.port_path(self.conf.state_path, node_uuid))
            if (previous is not None and previous in self.ports.ports
                    and previous not in self.ports.taken):
                try:
                    return self.ports.reserve(previous, node=label, holders=holders)
                except (ConsolePortTaken, exception.HWDriversError):
                    pass  # another program has it now: any free one
        return self.ports.reserve(wanted, node=label, holders=holders)

    def node_deleted(self, task):
        """The node was deleted (by this process): stop its proxy, remove its files.

        Its log and port file went on taking disk for every node ever
        deleted. The API cannot show the log of a node that is gone; a node
        deleted elsewhere loses its files at this conductor's next sweep
        (:meth:`sweep`).
        """
        self.stop_proxy(task)
        with self._lock:
            if task.node.uuid in self._relays or task.node.uuid in self._changing:
                return  # enabled again meanwhile? then the sweep decides later
        removed = console_log.remove_files(self.conf.state_path, task.node.uuid)
        if removed:
            LOG.info("Node %s: removed its console log and port file (%d file(s))",
                     task.node.ident, removed)

    def stop_proxy(self, task):
        with self._lock:
            relay = self._relays.get(task.node.uuid)
        if relay is None:
            return
        relay.stop()
        self._forget(relay)
        LOG.info("Node %s: console stopped", task.node.ident)

    def proxy_info(self, task):
        with self._lock:
            relay = self._relays.get(task.node.uuid)
        if relay is None or relay.state in (console_relay.FAILED, console_relay.STOPPED):
            return None
        return self._info(relay)

    def _forget(self, relay):
        """Drop the relay and give its port back (once: the port may be reused after)."""
        with self._lock:
            if self._relays.get(relay.node) is relay:
                del self._relays[relay.node]
                self._fingerprints.pop(relay.node, None)
            if getattr(relay, "forgotten", False):
                return
            relay.forgotten = True
        self.ports.release(relay.port_number)

    def _relay_failed(self, relay, reason):
        """A relay that had been up gave up by itself: record why, before it says failed.

        A restored console that never came back (:attr:`Relay.retrying`) is
        recorded as such (:data:`RESTART_FAILED`), after its retries.
        Called on the relay's thread under ``relay.transition``, so
        :meth:`get_console` never pairs a ``failed`` relay with a record that
        still says enabled, nor a record already turned off with a relay
        still saying ``on``. A relay that never came up is recorded by
        whoever started it (the request's worker, the restore).
        """
        if self._stop.is_set():
            return
        with self._lock:
            current = self._relays.get(relay.node) is relay
        if current and relay.retrying and not relay.ever_up:
            # A restored console whose BMC never answered again.
            relay.reason = reason = RESTART_FAILED % (self.hostname, reason)
        if current and (relay.ever_up or relay.retrying):
            self._record(relay.node, False, reason)

    def _relay_closed(self, relay):
        """A relay's thread ended: its listener is closed, so its port is free again."""
        if self._stop.is_set():
            return  # stop() forgets every relay itself
        if relay.state == console_relay.FAILED:
            self._forget(relay)

    def proxies(self):
        """``{node uuid: (state, port, client)}``, for tests and diagnostics."""
        with self._lock:
            return {uuid: (r.state, r.port_number, r.client_address)
                    for uuid, r in self._relays.items()}

    # -- restore and sync ---------------------------------------------------------------------

    @staticmethod
    def _enabled_nodes():
        with db_engine.reader() as conn:
            rows = conn.execute(sa.select(nodes.c.uuid).where(
                nodes.c.console_enabled.is_(True)).order_by(nodes.c.id)).all()
        return [row.uuid for row in rows]

    def restore(self):
        """Start again every console enabled in the database; turn off those that fail.

        :data:`RESTORE_CONCURRENCY` at a time: a fleet whose BMCs went away with
        the conductor must not take minutes to sort out one by one.
        """
        try:
            uuids = self._enabled_nodes()
        except exception.HWDriversError:
            LOG.exception("Console manager: cannot list the consoles to restore")
            return
        if not uuids:
            return
        self._start_many(uuids)
        LOG.info("Console manager of %s: %d console(s) served after start-up",
                 self.hostname, len(self.proxies()))

    def _start_many(self, uuids):
        with concurrent.futures.ThreadPoolExecutor(
                max_workers=RESTORE_CONCURRENCY,
                thread_name_prefix="hwdrivers-console-restore") as pool:
            list(pool.map(self._restore_one, uuids))

    def _restore_one(self, node_uuid):
        if self._stop.is_set():
            return
        context = hw_context.get_admin_context()
        try:
            with self._node_locks[node_uuid]:
                with task_manager.acquire(context, node_uuid, shared=True,
                                          purpose="console restore",
                                          registry=self.registry) as task:
                    interface = task.driver.console
                    if not isinstance(interface, console_base.ProxiedConsole):
                        return  # nothing runs for it (fake): it stays as it was
                    if self.owns is not None and not self.owns(task.node):
                        return  # another conductor serves it
                    with self._lock:
                        self._restoring.add(node_uuid)
                    try:
                        interface.start_console(task)
                    finally:
                        with self._lock:
                            self._restoring.discard(node_uuid)
        except exception.NodeNotFound:
            return
        except Exception as exc:
            if self._stop.is_set():
                return
            LOG.error("Node %s: %s", node_uuid, RESTART_FAILED % (self.hostname, exc))
            self._record(node_uuid, False, RESTART_FAILED % (self.hostname, exc))

    def sync(self):
        """Stop proxies whose node is gone or whose console is off in the database.

        One query for all of them: the nodes whose console is enabled. With
        several conductors (``owns``), also hand over: stop the proxies of
        nodes the ring gave another conductor, start those of enabled nodes
        it gave this one (a conductor joined or died).
        """
        enabled = set(self._enabled_nodes())
        with self._lock:
            stale = [(u, r, "node deleted or console disabled")
                     for u, r in self._relays.items()
                     if u not in enabled and u not in self._changing
                     and r.state != console_relay.STARTING]
            unserved = sorted(u for u in enabled
                              if u not in self._relays and u not in self._changing)
        served = self._served_nodes()
        if self.owns is not None:
            stale += [(u, r, "another conductor serves it now")
                      for u, r in self._not_owned(served)]
        for node_uuid, relay, why in stale:
            LOG.info("Node %s: stopping its console proxy (%s)", node_uuid, why)
            relay.stop()
            self._forget(relay)
        self._follow_changes(served, {u for u, _, _ in stale})
        if self.owns is not None and unserved:
            self._start_many(unserved)
        self._syncs += 1
        if self._syncs % SWEEP_EVERY == 1:
            self.sweep()

    def sweep(self):
        """Remove the console files (logs, port) of nodes that no longer exist.

        What a delete in another process (another conductor, hwdrivers-api)
        left here; the files of nodes that exist, served here or not, stay.
        One query per :data:`SYNC_BATCH` nodes with files.
        """
        with self._lock:
            busy = set(self._relays) | set(self._changing)
        candidates = sorted(console_log.nodes_with_files(self.conf.state_path) - busy)
        gone = []
        for start in range(0, len(candidates), SYNC_BATCH):
            batch = candidates[start:start + SYNC_BATCH]
            with db_engine.reader() as conn:
                existing = {row.uuid for row in conn.execute(
                    sa.select(nodes.c.uuid).where(nodes.c.uuid.in_(batch)))}
            gone += [u for u in batch if u not in existing]
        for node_uuid in gone:
            with self._lock:
                if node_uuid in self._relays or node_uuid in self._changing:
                    continue
            if console_log.remove_files(self.conf.state_path, node_uuid):
                LOG.info("Node %s was deleted: removed its console log and port file",
                         node_uuid)
        return gone

    def _served_nodes(self):
        """``{uuid: (node, relay)}`` of the consoles served here and not changing.

        The nodes are read :data:`SYNC_BATCH` at a time: one query per batch,
        not one per console (a conductor serving thousands read each of them
        every :data:`SYNC_INTERVAL`). A node gone meanwhile is left to the
        next sync's deleted-node check.
        """
        with self._lock:
            relays = {u: r for u, r in self._relays.items() if u not in self._changing}
        uuids = sorted(relays)
        served = {}
        for start in range(0, len(uuids), SYNC_BATCH):
            batch = uuids[start:start + SYNC_BATCH]
            for node in node_obj.Node.list(filters={"uuids": batch}):
                served[node.uuid] = (node, relays[node.uuid])
        return served

    def _not_owned(self, served=None):
        """The served consoles the ring now gives another conductor."""
        if served is None:
            served = self._served_nodes()
        return [(uuid, relay) for uuid, (node, relay) in served.items()
                if not self.owns(node)]

    def _follow_changes(self, served, stopped=()):
        """Start a session again whose node's driver_info changed while it ran.

        The node moved to another BMC (ipmi_address, ipmi_port corrected or a
        replacement BMC) while its console was on: the session on the old BMC
        went on until it ended by itself, for hours, so the console showed and
        typed on the machine the node no longer names, and held that BMC's SOL
        session. Each sync compares the nodes already read (no query of its
        own) with what their commands were built from; a node that changed
        gets its command rebuilt, and the relay starts the session again with
        it when it differs (same port and client). A new ipmi_terminal_port
        only takes effect at the next disable and enable.
        """
        for uuid, (node, relay) in served.items():
            if uuid in stopped or relay.state not in (console_relay.ON,
                                                      console_relay.RESTARTING):
                continue
            fingerprint = _fingerprint(node)
            with self._lock:
                if self._fingerprints.get(uuid) == fingerprint:
                    continue
                self._fingerprints[uuid] = fingerprint
            try:
                command = self._current_command(uuid)
            except Exception as exc:
                LOG.warning("Node %s: its driver_info changed, and its console cannot "
                            "use it (%s); the console session goes on as it was",
                            node.ident, exc)
                continue
            if command is None or _same_session(command, relay.command):
                continue
            if command.port is not None and command.port != relay.port_number:
                LOG.warning("Node %s: its console stays on port %d; the new "
                            "ipmi_terminal_port %d takes effect at its next disable "
                            "and enable", node.ident, relay.port_number, command.port)
            relay.renew(command, "the node's driver_info changed (now %s)"
                        % (command.peer or "another console"))

    def node_changed(self, node):
        """Follow an update of ``node`` now (its record, as saved), rather than
        at the next sync: a console served here whose driver_info changed
        starts its session again with it (:meth:`_follow_changes`)."""
        with self._lock:
            relay = self._relays.get(node.uuid)
            if relay is None or node.uuid in self._changing:
                return
        self._follow_changes({node.uuid: (node, relay)})

    def _sync_loop(self):
        while not self._stop.wait(SYNC_INTERVAL):
            try:
                self.sync()
            except Exception:
                LOG.exception("Console manager: sync failed; next in %ss", SYNC_INTERVAL)
