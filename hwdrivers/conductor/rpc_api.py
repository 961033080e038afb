"""The conductor interface as ``hwdrivers-api`` sees it: calls routed to the node's owner.

:class:`RoutingManager` is what an API process puts behind
``utils.manager()``. It is a :class:`ConductorManager` without a worker
pool: reads, node and port records and input checks run in the API process
against the database, exactly as in ``hwdrivers-server``; every call that
acts on hardware or hands work to a worker (:data:`ROUTED`) goes to the
conductor that owns the node on its group's hash ring, over
:mod:`hwdrivers.conductor.rpc`. The conductor answers at once for
asynchronous actions (202 in the API), with 409 for a locked node; when no
conductor of the group is alive, or the owner does not answer, the API
answers 503 with Retry-After before anything changed.
"""

import inspect
import logging

from hwdrivers.conductor import hash_ring
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import rpc
from hwdrivers.objects import node as node_obj

LOG = logging.getLogger(__name__)

#: ConductorManager methods that run on the owning conductor. Each takes
#: ``(context, ident, ...)``.
ROUTED = ("change_power_state", "do_provisioning_action", "set_boot_device",
          "get_boot_device", "get_supported_boot_devices", "get_sensors_data",
          "inject_nmi", "validate_node", "vendor_passthru", "get_power_state",
          "get_supported_power_states", "agent_heartbeat", "continue_inspection",
          "set_console_mode", "get_console", "read_console_log")

#: ROUTED calls the conductor answers as soon as it has locked the node and
#: handed the work to a worker (202 in the API), or with what it has at hand.
#: change_power_state is one with ``wait=False`` only.
ANSWERS_AT_ONCE = frozenset(("change_power_state", "do_provisioning_action",
                             "set_console_mode", "get_console", "read_console_log",
                             "agent_heartbeat", "continue_inspection"))

#: Seconds such a call may take beyond its wait for the node's lock. Past
#: that the conductor is taken as silent (paused, frozen, cut off) rather
#: than given [json_rpc] timeout, which is sized for hardware waits: each
#: caller is one of the API process's few threads.
ANSWER_MARGIN = 15.0

#: Results that are tuples in Python (JSON turns them into lists).
_TUPLE_RESULTS = frozenset({"vendor_passthru"})


class RoutingManager(manager_mod.ConductorManager):
    """A ConductorManager whose hardware calls run on the owning conductor."""

    def __init__(self, registry=None, conf=None, rings=None, client=None):
        super().__init__(registry=registry, workers=None, conf=conf)
        conf = self._conf
        self.rings = rings or hash_ring.RingManager(conf)
        self.client = client or rpc.Client(
            timeout=conf.json_rpc.timeout, username=conf.json_rpc.http_basic_username,
            password=conf.json_rpc.http_basic_password)

    def owner(self, node) -> tuple:
        """``(hostname, rpc_url)`` of the conductor owning ``node`` now."""
        key = hash_ring.routing_key(self.registry, node)
        host = self.rings.owner(node.conductor_group or "", key, node.ident,
                                hardware_type=node.driver)
        row = self.rings.conductor(host) or {}
        return host, row.get("rpc_url")

    def node_view(self, node):
        """The node's view, with ``conductor``: the owner now (None when none is alive)."""
        values = super().node_view(node)
        try:
            values["conductor"] = self.owner(node)[0]
        except hash_ring.NoConductor:
            values["conductor"] = None
        return values

    def route(self, method, context, ident, **kwargs):
        """Run ``method`` on the owner of node ``ident``; its result or its error.

        A method that waits on the hardware holds this request's thread
        until the conductor answers; the owner bounds its own waits, but
        several owners could together hold every thread of this process,
        so these waits take one of this process's wait slots too.
        """
        if method in manager_mod.HARDWARE_WAITS:
            with self.hardware_wait_slot():
                return self._route(method, context, ident, **kwargs)
        return self._route(method, context, ident, **kwargs)

    def answer_timeout(self, method, context, kwargs):
        """Seconds to wait for the owner's answer to ``method``.

        [json_rpc] timeout for calls that wait on hardware; for those in
        :data:`ANSWERS_AT_ONCE`, the request's lock wait plus
        :data:`ANSWER_MARGIN` (at most [json_rpc] timeout).
        """
        timeout = self._conf.json_rpc.timeout
        if method not in ANSWERS_AT_ONCE or (method == "change_power_state"
                                             and kwargs.get("wait", True)):
            return timeout
        lock_wait = getattr(context, "lock_wait", None)
        if lock_wait is None:
            lock_wait = self._conf.conductor.node_locked_retry_timeout
        return min(timeout, lock_wait + ANSWER_MARGIN)

    def answer_timeout_option(self, seconds):
        """What sets an :meth:`answer_timeout` of ``seconds``, for the error naming it."""
        if seconds == self._conf.json_rpc.timeout:
            return "[json_rpc] timeout"
        return "the request's lock wait, [api] node_locked_wait, + %gs" % ANSWER_MARGIN

    def _route(self, method, context, ident, **kwargs):
        node = node_obj.Node.get(ident)
        host, url = self.owner(node)
        if not url:
            raise rpc.ConductorUnreachable(
                host=host, node=node.ident, url="(none)",
                reason="it records no JSON-RPC URL: it is an hwdrivers-server, which "
                       "serves its own API; point API requests at it or run "
                       "hwdrivers-conductor instead")
        timeout = self.answer_timeout(method, context, kwargs)
        result = self.client.call(url, method, context, host=host, node=node.ident,
                                  call_timeout=timeout,
                                  timeout_option=self.answer_timeout_option(timeout),
                                  ident=node.uuid, **kwargs)
        return tuple(result) if method in _TUPLE_RESULTS else result



class ConductorEndpoint:
    """What a conductor serves over JSON-RPC: its manager's :data:`ROUTED` methods."""

    def __init__(self, manager):
        self.manager = manager

    def __getattr__(self, name):
        if name not in ROUTED:
            raise AttributeError(name)
        return getattr(self.manager, name)


def _routed(name):
    signature = inspect.signature(getattr(manager_mod.ConductorManager, name))

    def call(self, context, ident, *args, **kwargs):
        bound = signature.bind(self, context, ident, *args, **kwargs)
        params = dict(bound.arguments)
        for fixed in ("self", "context", "ident"):
            params.pop(fixed, None)
        return self.route(name, context, ident, **params)

    call.__name__ = name
    call.__doc__ = "%s on the node's owning conductor (JSON-RPC)." % name
    return call


for _name in ROUTED:
    setattr(RoutingManager, _name, _routed(_name))
