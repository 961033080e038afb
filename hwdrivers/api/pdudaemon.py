"""A PDUDaemon-compatible HTTP listener in front of the conductor.

Board farms (LAVA and friends) already speak PDUDaemon's protocol::

    GET /power/control/{on,off,reboot}?hostname=<pdu>&port=<outlet>[&delay=<s>]
    GET /power/control/{on,off,reboot}?alias=<name>[&delay=<s>]

Instead of a second daemon with its own queue per PDU, the request is
mapped to a node and run by the same conductor as the REST API and the
CLI, so PDU commands share the per-controller queue (one command at a time
to a fragile PDU) with everything else. ``hostname`` + ``port`` select the
node whose driver_info has ``snmp_address == hostname`` (case-insensitive)
and ``snmp_outlet == port``; ``alias`` is a node's name or UUID.

Answers keep PDUDaemon's meaning: 200 = accepted (the operation runs
asynchronously), 503 = not accepted now (node locked, no free worker, node
in maintenance). Requests that can never succeed get 400 (bad parameters),
404 (no such node) or 409 (two nodes claim the same outlet), each with a
one-line text saying what to fix.

``delay`` follows PDUDaemon: seconds before the command runs, or between
off and on for a reboot. Without it the command runs at once and a reboot
is the driver's own reboot (PDUDaemon waits 5 s by default, a default its
author calls a historical accident; ask for ``delay=5`` to get it).
A delayed request holds a conductor worker while it waits (bounded by
``[pdudaemon] max_delay`` and the pool size), so it cannot pile up
unboundedly; after the wait, a refusal (node locked) is logged. An on or
off still waiting when the conductor stops is dropped, with a warning, so
it does not hold up the stop (a reboot already switched off finishes).

The protocol has no authentication, so the listener binds to loopback
unless ``[pdudaemon] allow_remote`` says otherwise. With ``[pdudaemon]
listener = tcp``, :mod:`hwdrivers.api.pdudaemon_tcp` serves PDUDaemon's TCP
protocol (pduclient's default mode) through the same :class:`Listener`.
"""

import logging
import math
import time

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.common import network
from hwdrivers.drivers import params

LOG = logging.getLogger(__name__)

TARGETS = {"on": "power on", "off": "power off", "reboot": "rebooting"}
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

    ``[::1]``, ``::1`` and ``0:0::1`` are one PDU to the driver (its queue
    key normalizes them too), so a request naming it one way must find a
    node that wrote it another; host names compare case-insensitively.
    """
    try:
        return params.parse_address(address).lower()
    except ValueError:
        return address.strip().lower()


def _outlet_of(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


class Listener:
    """Maps PDUDaemon requests to nodes and conductor operations."""

    def __init__(self, service, conf):
        self.service = service
        self.max_delay = conf.pdudaemon.max_delay

    @property
    def manager(self):
        return self.service.manager

    # -- parsing --------------------------------------------------------------------

    def parse(self, command, args):
        """``(target, selector dict, delay)`` or _Refused(400)."""
        target = TARGETS.get(command)
        if target is None:
            raise _Refused(400, "Unknown command %r: %s" % (command, USAGE))
        unknown = sorted(set(args) - {"hostname", "port", "delay", "alias"})
        if unknown:
            raise _Refused(400, "Unknown parameter(s) %s: %s" % (", ".join(unknown), USAGE))
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
            try:
                delay = float(args["delay"])
            except ValueError:
                delay = math.nan
            if not 0 <= delay <= self.max_delay:
                raise _Refused(400, "delay must be a number of seconds from 0 to %g "
                                    "([pdudaemon] max_delay), got %r"
                               % (self.max_delay, args["delay"]))
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
        for node in self.manager.list_nodes(context):
            info = node.driver_info or {}
            address = info.get("snmp_address")
            if (isinstance(address, str) and _pdu_key(address) == host
                    and _outlet_of(info.get("snmp_outlet")) == selector["port"]):
                matches.append(node)
        if not matches:
            raise _Refused(404, "No node has driver_info snmp_address=%s and "
                                "snmp_outlet=%d; set them on the node plugged into "
                                "that outlet" % (selector["hostname"], selector["port"]))
        if len(matches) > 1:
            raise _Refused(409, "Nodes %s all have snmp_address=%s and snmp_outlet=%d; "
                                "give each outlet to one node, or use alias="
                           % (", ".join(n.ident for n in matches), selector["hostname"],
                              selector["port"]))
        return matches[0]

    # -- running --------------------------------------------------------------------

    def submit(self, context, node, target, delay):
        """Start the operation; _Refused(503/400/404) when the conductor refuses."""
        try:
            if delay <= 0:
                self.manager.change_power_state(context, node.uuid, target, wait=False)
                return
            if self.manager.workers is None:
                raise exception.NoFreeWorker("No worker pool in this process.")
            self.manager.workers.submit(self._delayed, context, node, target, delay)
        except (exception.Conflict, exception.NoFreeWorker) as exc:
            raise _Refused(503, "Not accepted: %s" % exc) from None
        except exception.NotFound as exc:
            raise _Refused(404, str(exc)) from None
        except exception.HWDriversError as exc:
            raise _Refused(400, "Refused: %s" % exc) from None

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
        """PDUDaemon's delay: before on/off, or between off and on for reboot."""
        try:
            if target == "rebooting":
                self.manager.change_power_state(context, node.uuid, "power off")
                time.sleep(delay)  # started: the outlet must come back on
                self.manager.change_power_state(context, node.uuid, "power on")
            elif self._waited(delay):
                self.manager.change_power_state(context, node.uuid, target)
            else:
                LOG.warning("PDUDaemon request %s of node %s dropped before its delay "
                            "(%gs) ended: the conductor is stopping; send it again once "
                            "hwdrivers-server is back", target, node.ident, delay)
        except exception.HWDriversError as exc:
            LOG.error("PDUDaemon request %s of node %s (delay %gs) failed: %s",
                      target, node.ident, delay, exc)
        except Exception:  # noqa: BLE001 (nobody reads this worker's Future)
            LOG.exception("PDUDaemon request %s of node %s (delay %gs) failed",
                          target, node.ident, delay)

    def handle(self, command, args):
        """``(status, text)`` for one request."""
        try:
            target, selector, delay = self.parse(command, args)
            context = hw_context.get_admin_context()
            node = self.find_node(context, selector)
            self.submit(context, node, target, delay)
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
        LOG.info("PDUDaemon request accepted: %s node %s (%s, delay %gs)",
                 target, node.ident, where, delay)
        # PDUDaemon's own answer first, for clients that read the body.
        return 200, "OK - accepted request: %s of node %s (%s)%s" % (
            target, node.ident, where, ", after %g s" % delay if delay else "")


def make_app(service, conf=None):
    """The listener's Flask app; ConfigInvalid if its address is not allowed."""
    import flask

    if conf is None:
        from hwdrivers.conf import CONF as conf
    check_config(conf)
    listener = Listener(service, conf)
    app = flask.Flask("hwdrivers.pdudaemon")
    app.config["hwdrivers.service"] = service

    def text(status, body):
        return flask.Response(body + "\n", status=status, mimetype="text/plain")

    @app.route("/power/control/<command>", methods=["GET"])
    def control(command):
        return text(*listener.handle(command, flask.request.args.to_dict()))

    @app.errorhandler(404)
    def not_found(error):
        return text(404, "Not found: " + USAGE)

    @app.errorhandler(405)
    def not_allowed(error):
        return text(405, "Method not allowed: " + USAGE)

    @app.errorhandler(Exception)
    def unexpected(error):
        LOG.exception("PDUDaemon listener failed")
        return text(500, "Internal error; see the hwdrivers-server log.")

    return app
