"""A PDUDaemon-compatible HTTP listener in front of the conductor.

Board farms (LAVA and friends) already speak PDUDaemon's protocol::

    GET /power/control/{on,off,reboot}?hostname=<pdu>&port=<outlet>[&delay=<s>]
    GET /power/control/{on,off,reboot}?alias=<name>[&delay=<s>]

Instead of a second daemon with its own queue per PDU, the request is
mapped to a node and run by the same conductor as the REST API and the
CLI, so PDU commands share the per-controller queue (one command at a time
to a fragile PDU) with everything else. ``hostname`` + ``port`` select the
node powered by the snmp interface whose driver_info has ``snmp_address ==
hostname`` (case-insensitive) and ``snmp_outlet == port``; ``alias`` is a
node's name or UUID.

Answers keep PDUDaemon's meaning: 200 = accepted (the operation runs
asynchronously), 503 = not accepted now (no free worker, the node's queue
full, the conductor stopping). Requests that can never succeed get 400 (bad
parameters), 404 (no such node) or 409 (two nodes claim the same outlet),
each with a one-line text saying what to fix.

A request for a node busy with another operation is queued, as PDUDaemon
queues every request: a reboot followed at once by ``off`` (what LAVA does
between jobs) must not have the second refused. The node's requests run in
the order they came, one at a time, each once the node is free; one still
waiting after ``[pdudaemon] queue_timeout`` is dropped and logged.

``delay`` follows PDUDaemon: seconds before the command runs, or between
off and on for a reboot. Without it the command runs at once and a reboot
is the driver's own reboot (PDUDaemon waits 5 s by default, a default its
author calls a historical accident; ask for ``delay=5`` to get it).
A delayed request waits in the node's queue like any other, so a request
sent during its delay (LAVA's ``off`` after a ``reboot``) runs after it,
and its worker (the queue's) waits at most ``[pdudaemon] max_delay``; after
the wait, a refusal (node locked) is logged. An on or
off still waiting when the conductor stops is dropped, with a warning, so
it does not hold up the stop (a reboot already switched off finishes).

The protocol has no authentication, so the listener binds to loopback
unless ``[pdudaemon] allow_remote`` says otherwise. With ``[pdudaemon]
listener = tcp``, :mod:`hwdrivers.api.pdudaemon_tcp` serves PDUDaemon's TCP
protocol (pduclient's default mode) through the same :class:`Listener`.
"""

import collections
import logging
import threading
import time

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.common import network
from hwdrivers.conductor import task_manager
from hwdrivers.drivers import actions
from hwdrivers.drivers import factory
from hwdrivers.drivers import params as driver_params
from hwdrivers.drivers.modules import snmp

LOG = logging.getLogger(__name__)

TARGETS = {"on": "power on", "off": "power off", "reboot": "rebooting"}
#: Requests one node may have waiting for it: PDUDaemon sets no bound, but
#: a client looping on one outlet must not grow memory without end.
MAX_QUEUED = 16
USAGE = ("use GET /power/control/{on,off,reboot}?hostname=<PDU address>&port=<outlet>"
         "[&delay=<seconds>] or ?alias=<node name or UUID>[&delay=<seconds>]")


class _Refused(Exception):
    """A request answered with ``status`` and a one-line ``text``."""

    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text


def check_config(conf):
    """ConfigInvalid unless the listen address is loopback or explicitly allowed."""
    group = conf.pdudaemon
    if not network.is_loopback(group.host) and not group.allow_remote:
        raise exception.ConfigInvalid(
            "[pdudaemon] host = %s is not a loopback address, and the PDUDaemon "
            "protocol has no authentication: anyone reaching it could power nodes "
            "off. Use 127.0.0.1, or set [pdudaemon] allow_remote = true on a trusted "
            "network." % group.host, option="[pdudaemon] host")


def _pdu_key(address):
    """``address`` as the snmp driver reads it, for comparing PDU names.

    ``[::1]``, ``::1`` and ``0:0::1``, or ``PDU1.lab`` and ``pdu1.lab.``,
    are one PDU to the driver (its queue key normalizes them the same way),
    so a request naming it one way must find a node that wrote it another.
    """
    try:
        return snmp.pdu_host(address)
    except ValueError:
        return address.strip().lower()


def _outlet_of(value):
    """An outlet number read as the snmp driver reads ``snmp_outlet``, else None.

    ``int()`` alone also reads ``2_0`` as 20, ``+2`` and other scripts'
    digits: a typo in a power request must not name another machine, and a
    request and a stored outlet must be read by one rule.
    """
    try:
        return driver_params.parse_int(value, 1)
    except ValueError:
        return None


def _powered_by_snmp(row):
    """Whether the node's power goes through its snmp_* fields.

    A node moved to another driver keeps its driver_info (as in Ironic):
    stale snmp_address/snmp_outlet must not make it answer for an outlet
    that now feeds another machine, nor make that machine's node a 409.
    """
    try:
        return factory.get_registry().interface_name(
            row["driver"], "power", row["power_interface"]) == "snmp"
    except exception.HWDriversError:  # a driver no longer enabled: not switchable here
        return False


class Listener:
    """Maps PDUDaemon requests to nodes and conductor operations."""

    def __init__(self, service, conf):
        self.service = service
        self.max_delay = conf.pdudaemon.max_delay
        self.queue_timeout = conf.pdudaemon.queue_timeout
        # node UUID -> deque of (target, deadline): requests waiting for a
        # busy node, the first one running. One worker drains each.
        self._queues = {}
        self._lock = threading.Lock()

    @property
    def manager(self):
        return self.service.manager

    # -- parsing --------------------------------------------------------------------

    def parse(self, command, args):
        """``(target, selector dict, delay)`` or _Refused(400).

        ``args``: parameter name -> value, or a list of the values of a
        parameter given more than once (refused).
        """
        target = TARGETS.get(command)
        if target is None:
            raise _Refused(400, "Unknown command %r: %s" % (command, USAGE))
        unknown = sorted(set(args) - {"hostname", "port", "delay", "alias"})
        if unknown:
            raise _Refused(400, "Unknown parameter(s) %s: %s" % (", ".join(unknown), USAGE))
        # port=11&port=12 named two outlets; taking the first (as PDUDaemon's
        # parse_qs()[0] does) switched one machine and answered 200 for both.
        repeated = sorted(name for name, value in args.items() if isinstance(value, list))
        if repeated:
            raise _Refused(400, "Parameter(s) %s given more than once: one request "
                                "switches one outlet; %s" % (", ".join(repeated), USAGE))
        alias = args.get("alias", "").strip()
        hostname = args.get("hostname", "").strip()
        port = args.get("port", "").strip()
        if alias:
            if hostname or port:
                raise _Refused(400, "Give either alias or hostname and port, not both: "
                                    + USAGE)
            selector = {"alias": alias}
        else:
            missing = [name for name, value in (("hostname", hostname), ("port", port))
                       if not value]
            if missing:
                raise _Refused(400, "Missing %s: %s" % (" and ".join(missing), USAGE))
            outlet = _outlet_of(port)
            if outlet is None or outlet < 1:
                raise _Refused(400, "port must be the PDU outlet number (an integer from "
                                    "1), got %r" % port)
            selector = {"hostname": hostname, "port": outlet}
        delay = 0.0
        if args.get("delay", "").strip():
            # Read as driver_info floats are: float() alone also took "1_0" as
            # 10 s and other scripts' digits, a typo becoming another wait.
            try:
                delay = driver_params.parse_float(args["delay"], 0, self.max_delay)
            except ValueError:
                raise _Refused(400, "delay must be a number of seconds from 0 to %g "
                                    "([pdudaemon] max_delay) in decimal digits, got %r"
                               % (self.max_delay, args["delay"])) from None
        return target, selector, delay

    # -- node lookup ------------------------------------------------------------------

    def find_node(self, context, selector):
        if "alias" in selector:
            try:
                return self.manager.get_node(context, selector["alias"])
            except exception.NotFound:
                raise _Refused(404, "No node is named %r (alias is a node name or "
                                    "UUID)" % selector["alias"]) from None
        host = _pdu_key(selector["hostname"])
        matches = []
        # plain fields, read sealed: no node's secrets are opened to find one
        for row in self.manager.nodes_with_driver_info_key(context, "snmp_address"):
            info = row["driver_info"]
            address = info.get("snmp_address")
            if (_outlet_of(info.get("snmp_outlet")) == selector["port"]  # cheapest first
                    and isinstance(address, str) and _pdu_key(address) == host
                    and _powered_by_snmp(row)):
                matches.append(row)
        unknown = _Refused(404, "No node has driver_info snmp_address=%s and snmp_outlet=%d; "
                                "set them on the node plugged into that outlet"
                           % (selector["hostname"], selector["port"]))
        if not matches:
            raise unknown
        if len(matches) > 1:
            raise _Refused(409, "Nodes %s all have snmp_address=%s and snmp_outlet=%d; "
                                "give each outlet to one node, or use alias="
                           % (", ".join(row["name"] or row["uuid"] for row in matches),
                              selector["hostname"], selector["port"]))
        try:
            return self.manager.get_node(context, matches[0]["uuid"])
        except exception.NotFound:  # deleted since: as if never there
            raise unknown from None

    # -- running --------------------------------------------------------------------

    def submit(self, context, node, target, delay):
        """Start the operation, or queue it behind the node's current one.

        Returns whether it was queued. _Refused(503/400/404) when the
        conductor refuses it.
        """
        try:
            busy = False
            if delay <= 0 and not self._queued(node.uuid):
                try:
                    self.manager.change_power_state(context, node.uuid, target, wait=False)
                    return False
                except exception.NodeLocked:
                    busy = True  # it waits its turn, as PDUDaemon queues requests
            # Checked now, as a request run at once is: run later, a node that
            # can never be switched (driver_info missing its community) got
            # its 200 / ack and the failure only reached the server log.
            self._check(context, node, target)
            # A delayed request goes in the node's queue too, delay and all:
            # run beside it, an 'off' sent during a delayed reboot's wait ran
            # first and the reboot's 'on' last, leaving the board on.
            return self._enqueue(context, node, target, delay) or busy
        except (exception.Conflict, exception.NoFreeWorker) as exc:
            raise _Refused(503, "Not accepted: %s" % exc) from None
        except exception.NotFound as exc:
            raise _Refused(404, str(exc)) from None
        except exception.HWDriversError as exc:
            raise _Refused(400, "Refused: %s" % exc) from None

    @staticmethod
    def _check(context, node, target):
        """What the conductor checks before a power change: target and driver_info.

        A shared task: no lease, so a node busy with another operation is
        checked all the same.
        """
        with task_manager.acquire(context, node.uuid, shared=True,
                                  purpose="PDUDaemon request check") as task:
            actions.check_power_target(task, target, declared_only=True)
            task.driver.power.validate(task)

    def _workers(self):
        if self.manager.workers is None:
            raise exception.NoFreeWorker("No worker pool in this process.")
        return self.manager.workers

    def _queued(self, uuid):
        with self._lock:
            return uuid in self._queues

    def _enqueue(self, context, node, target, delay=0.0):
        """Add a request to the node's queue; start a worker to drain a new one.

        Under one lock, the worker's start included (it never blocks): a
        request that got its 200 is never lost to a failed start. Returns
        whether requests were ahead of it.
        """
        item = (target, time.monotonic() + self.queue_timeout, delay)
        with self._lock:
            waiting = self._queues.get(node.uuid)
            if waiting is not None:
                if len(waiting) >= MAX_QUEUED:
                    raise exception.NoFreeWorker(
                        "node %s already has %d requests waiting for it; retry once "
                        "they have run" % (node.ident, len(waiting)))
                waiting.append(item)
                return True
            waiting = collections.deque([item])
            self._workers().submit(self._drain, context, node, waiting)
            self._queues[node.uuid] = waiting
            return False

    def _drain(self, context, node, waiting):
        """Run the node's queued requests in order; the queue goes when empty."""
        while True:
            with self._lock:
                if not waiting:
                    del self._queues[node.uuid]
                    return
                target, deadline, delay = waiting[0]  # stays queued while it runs: order
            if delay > 0:
                self._delayed(context, node, target, delay)
            else:
                self._run_when_free(context, node, target, "queued", deadline)
            with self._lock:
                waiting.popleft()

    def _run_when_free(self, context, node, target, how, deadline=None):
        """``target`` once the node is free (its lock taken), by ``deadline``
        (default: ``[pdudaemon] queue_timeout`` from now).

        Each attempt already waits ``[conductor] node_locked_retry_timeout``
        for the lock; nothing here is the request's answer any more, so every
        outcome but success is logged. Returns whether it ran.
        """
        if deadline is None:
            deadline = time.monotonic() + self.queue_timeout
        while True:
            if self.manager.workers.stopping:
                LOG.warning("PDUDaemon request %s of node %s (%s) dropped: the conductor "
                            "is stopping; send it again once hwdrivers-server is back",
                            target, node.ident, how)
                return False
            try:
                self.manager.change_power_state(context, node.uuid, target)
                return True
            except exception.NodeLocked as exc:
                if time.monotonic() >= deadline:
                    LOG.error("PDUDaemon request %s of node %s (%s) dropped: the node "
                              "stayed busy past [pdudaemon] queue_timeout (%gs): %s",
                              target, node.ident, how, self.queue_timeout, exc)
                    return False
                time.sleep(0.1)
            except exception.HWDriversError as exc:
                LOG.error("PDUDaemon request %s of node %s (%s) failed: %s",
                          target, node.ident, how, exc)
                return False
            except Exception:  # noqa: BLE001 (nobody reads this worker's Future)
                LOG.exception("PDUDaemon request %s of node %s (%s) failed",
                              target, node.ident, how)
                return False

    def _waited(self, delay):
        """Sleep ``delay`` seconds; False, at once, if the conductor starts stopping.

        A request still waiting to start is not a running operation: the
        graceful stop would otherwise wait for it up to ``[conductor]
        graceful_shutdown_timeout`` and then lose it without a word.
        """
        deadline = time.monotonic() + delay
        while not self.manager.workers.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            time.sleep(min(remaining, 0.1))
        return False

    def _delayed(self, context, node, target, delay):
        """PDUDaemon's delay: before on/off, or between off and on for reboot.

        At its time the node may be busy: the request then waits its turn up
        to ``[pdudaemon] queue_timeout``, as a queued one does.
        """
        how = "delay %gs" % delay
        if target == "rebooting":
            if self._run_when_free(context, node, "power off", how):
                time.sleep(delay)  # switched off: the outlet must come back on
                self._run_when_free(context, node, "power on", how)
        elif self._waited(delay):
            self._run_when_free(context, node, target, how)
        else:
            LOG.warning("PDUDaemon request %s of node %s dropped before its delay "
                        "(%gs) ended: the conductor is stopping; send it again once "
                        "hwdrivers-server is back", target, node.ident, delay)

    def handle(self, command, args):
        """``(status, text)`` for one request."""
        try:
            target, selector, delay = self.parse(command, args)
            context = hw_context.get_admin_context()
            try:
                node = self.find_node(context, selector)
            except exception.HWDriversError as exc:
                if exc.code != 503:  # a node whose key is lost, the database away
                    raise
                raise _Refused(503, "Not accepted: %s" % exc) from None
            queued = self.submit(context, node, target, delay)
        except _Refused as refused:
            # The command, parameter names and hostname are the client's own,
            # percent-decoded: unescaped, an encoded newline would forge a log
            # line and break the one-line answer (log_text says more).
            text = log_text.printable(refused.text)
            LOG.info("PDUDaemon request %s %s refused (%d): %s",
                     log_text.printable(command), dict(args), refused.status, text)
            return refused.status, text
        where = ("alias %s" % selector["alias"] if "alias" in selector
                 else "PDU %s outlet %d" % (selector["hostname"], selector["port"]))
        later = ((", queued behind the node's current operation" if queued else "")
                 + (", after %g s" % delay if delay else ""))
        LOG.info("PDUDaemon request accepted: %s node %s (%s%s)",
                 target, node.ident, where, later)
        # PDUDaemon's own answer first, for clients that read the body.
        return 200, "OK - accepted request: %s of node %s (%s)%s" % (
            target, node.ident, where, later)


def make_app(service, conf=None):
    """The listener's Flask app; ConfigInvalid if its address is not allowed."""
    import flask

    if conf is None:
        from hwdrivers.conf import CONF as conf
    check_config(conf)
    listener = Listener(service, conf)
    app = flask.Flask("hwdrivers.pdudaemon")
    app.config["hwdrivers.service"] = service
    app.config["hwdrivers.pdudaemon.listener"] = listener

    def text(status, body):
        return flask.Response(body + "\n", status=status, mimetype="text/plain")

    # No automatic OPTIONS: it answered "Allow: GET, HEAD, OPTIONS", HEAD included.
    @app.route("/power/control/<command>", methods=["GET"],
               provide_automatic_options=False)
    def control(command):
        if flask.request.method != "GET":
            # Flask routes HEAD to every GET view, and this GET is not safe: a
            # link checker's or load balancer's HEAD probe would switch the
            # outlet. (PDUDaemon's aiohttp route acts on HEAD too, by default.)
            return not_allowed(None)
        # Repeated parameters stay lists, for parse() to refuse.
        args = {name: values[0] if len(values) == 1 else values
                for name, values in flask.request.args.lists()}
        return text(*listener.handle(command, args))

    @app.errorhandler(404)
    def not_found(error):
        return text(404, "Not found: " + USAGE)

    @app.errorhandler(405)
    def not_allowed(error):
        response = text(405, "Method not allowed (only GET; HEAD does not act "
                             "either): " + USAGE)
        response.headers["Allow"] = "GET"
        return response

    @app.errorhandler(Exception)
    def unexpected(error):
        LOG.exception("PDUDaemon listener failed")
        return text(500, "Internal error; see the hwdrivers-server log.")

    return app
