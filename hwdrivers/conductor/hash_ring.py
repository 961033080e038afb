"""Which conductor owns a node: a consistent hash ring per conductor group.

Every process (each ``hwdrivers-conductor`` and ``hwdrivers-api``) reads the
same membership from the conductors table — online, and heartbeating within
``[conductor] heartbeat_timeout`` — and builds the same rings from it with
tooz's :class:`tooz.hashring.HashRing`, one per ``conductor_group``. So they
agree on owners without talking to each other, and a conductor joining or
dying moves only its share of the keys.

The key hashed is the node's **controller**, not the node: the first
interface of the node (power, then management, then the others) that names
one through ``controller_key(task)`` — the PDU for its 20 outlets, the BMC,
the SSH host. All nodes behind one PDU therefore belong to one conductor,
whose per-controller queue (conductor/controllers.py) is then the only one
in the fleet sending that PDU commands. A node with no shared controller
hashes by its UUID.

A node is placed on the ring of the conductors of its group that enable
its hardware type, as Ironic's rings are per hardware type: conductors of
one group may enable different types (some with ``ipmi`` only, one updated
before the others), and a node is never owned by a conductor that cannot
drive it. Conductors that enable the same types share one ring, so a group
whose conductors all enable the same ones has one.

Ownership decides who *should* act (which conductor an API request goes
to, which nodes a conductor's power sync reads). What may act stays the
database lease: a conductor with a stale view can at worst try to take a
lease another one holds and be refused.
"""

import datetime
import threading
import time

from oslo_config import cfg
from tooz import hashring

from hwdrivers.common import exception
from hwdrivers.common import interface_types
from hwdrivers.conductor import controllers
from hwdrivers.db import api as db_api

CONF = cfg.CONF

#: Points per conductor on the ring; more points spread keys more evenly
#: (with 1,024, four conductors each get 25% +- about 1% of 50,000 keys).
PARTITIONS_PER_CONDUCTOR = 2 ** 10

#: Interface kinds asked for a controller, in this order.
_KEY_ORDER = ("power", "management") + tuple(
    kind for kind in interface_types.ALL if kind not in ("power", "management"))


class NoConductor(exception.HWDriversError):
    """No live conductor can act on the node now (503: one may join)."""

    code = 503
    retry_after = 5


class NoConductorForGroup(NoConductor):
    """No live conductor serves the node's group: nothing can act on it now."""

    fmt = ("No conductor is alive in conductor group %(group)r for node %(node)s "
           "(none heartbeated within [conductor] heartbeat_timeout; groups with a live "
           "conductor: %(served)s). Start one with [conductor] conductor_group "
           "%(setting)s, or set the node's conductor_group to a served group (PATCH "
           "/v1/nodes/%(node)s), or retry once one has joined.")


class NoConductorForHardwareType(NoConductor):
    """The node's group has live conductors, none of which enables its hardware type."""

    fmt = ("No live conductor of conductor group %(group)r enables hardware type "
           "%(driver)s, which node %(node)s uses (the group's conductors and their "
           "[DEFAULT] enabled_hardware_types: %(enabled)s). Add %(driver)s to "
           "enabled_hardware_types on one of them and restart it, or retry once a "
           "conductor that enables it has joined.")


def _served(groups):
    """The groups with a live conductor, for :class:`NoConductorForGroup`."""
    return ", ".join("'' (the default)" if not group else repr(group)
                     for group in sorted(groups)) or "none"


class HardwareTypeNotEnabledHere(NoConductor):
    """This process cannot key the node: its hardware type is not enabled here.

    A node's place on the ring is its controller, which only the type's
    interfaces can name; keyed by its UUID instead, it would be routed to a
    conductor that does not own it, which would act on it beside its owner.
    """

    fmt = ("This %(process)s does not enable hardware type %(driver)s, which node "
           "%(node)s uses, so it cannot tell which conductor owns the node ([DEFAULT] "
           "enabled_hardware_types here: %(enabled)s). Every API process must enable "
           "each hardware type a conductor enables: add %(driver)s here and restart it.")


def routing_key(registry, node, process="API process") -> str:
    """:func:`node_key` as the conductors compute it; HardwareTypeNotEnabledHere
    when ``registry`` lacks the node's type, rather than a key they do not use."""
    if node.driver not in registry.hardware_types:
        raise HardwareTypeNotEnabledHere(
            process=process, driver=node.driver, node=node.ident,
            enabled=", ".join(sorted(registry.hardware_types)))
    return node_key(registry, node)


class _KeyTask:
    """What ``controller_key(task)`` reads: the node and its driver."""

    shared = True

    def __init__(self, node, driver):
        self.node = node
        self.driver = driver


def ring_key(node, driver) -> str:
    """The key a node is placed on the ring by: its controller, else its UUID."""
    task = _KeyTask(node, driver)
    interfaces = driver.interfaces
    for kind in _KEY_ORDER:
        impl = interfaces.get(kind)
        if impl is None:
            continue
        key = impl.controller_key(task)
        if key:
            # One spelling per controller, as its queue has (controllers.py).
            return "controller:%s" % controllers.canonical_key(key)
    return "node:%s" % node.uuid


def node_key(registry, node) -> str:
    """:func:`ring_key` of ``node`` composed by ``registry`` (its UUID if it cannot be)."""
    try:
        driver = registry.compose(node)
    except exception.HWDriversError:
        return "node:%s" % node.uuid
    return ring_key(node, driver)


class Ring:
    """A ring over live conductors' host names."""

    def __init__(self, hosts):
        self.hosts = tuple(sorted(hosts))
        self._ring = hashring.HashRing(self.hosts, partitions=PARTITIONS_PER_CONDUCTOR)

    def owner(self, key: str) -> str:
        (host,) = self._ring.get_nodes(key.encode("utf-8"))
        return host


class Membership:
    """One conductor group's live conductors, and a ring per hardware type.

    ``types`` maps each host to the hardware types it registered; a host
    that registered none (a row written before types were recorded) is
    taken to enable every type. Rings are built on first use and shared by
    the types whose conductors are the same hosts.
    """

    def __init__(self, types):
        self.types = {host: frozenset(enabled) for host, enabled in types.items()}
        self.hosts = tuple(sorted(self.types))
        self._lock = threading.Lock()
        self._by_type = {}
        self._by_hosts = {}

    def enables(self, host, hardware_type) -> bool:
        enabled = self.types.get(host)
        return enabled is not None and (not enabled or hardware_type in enabled)

    def ring(self, hardware_type=None):
        """The ring of the hosts that enable ``hardware_type`` (all hosts for None);
        None when no host does."""
        with self._lock:
            if hardware_type in self._by_type:
                return self._by_type[hardware_type]
            hosts = tuple(host for host in self.hosts if hardware_type is None
                          or self.enables(host, hardware_type))
            ring = None
            if hosts:
                ring = self._by_hosts.get(hosts)
                if ring is None:
                    ring = self._by_hosts[hosts] = Ring(hosts)
            self._by_type[hardware_type] = ring
            return ring

    def dropped_by(self, newer) -> bool:
        """Whether a host of this membership no longer drives, in ``newer``, a
        hardware type it did: it left, or came back without the type. Its
        deployed nodes of that type then have a new owner, which takes them
        over (conductor/service.py)."""
        for host, enabled in self.types.items():
            if host not in newer.types:
                return True
            if not enabled:  # it enabled any type
                if newer.types[host]:
                    return True
            elif any(not newer.enables(host, kind) for kind in enabled):
                return True
        return False

    def described(self) -> str:
        """``host (type, ...)`` for each member, for an error message."""
        return "; ".join("%s (%s)" % (host, ", ".join(sorted(self.types[host])) or "any")
                         for host in self.hosts)


def is_alive(row, now=None, timeout=None) -> bool:
    """True when a conductors row is online and heartbeated within the timeout.

    ``now`` is on the database's clock, which stamps the heartbeats
    (``db_api.conductor_clock_now()``, read when not given): this process's
    own clock may be off.
    """
    if not row.get("online") or row.get("updated_at") is None:
        return False
    now = now or db_api.conductor_clock_now()
    timeout = CONF.conductor.heartbeat_timeout if timeout is None else timeout
    return now - row["updated_at"] <= datetime.timedelta(seconds=timeout)


class RingManager:
    """The rings of every group, rebuilt from the database when they are stale.

    ``refresh()`` reads membership now; otherwise it is read again once
    ``[conductor] hash_ring_reset_interval`` has passed, so a request costs
    no membership query.
    """

    def __init__(self, conf=CONF):
        self.conf = conf
        self._lock = threading.Lock()
        self._rings = {}
        self._conductors = {}
        self._built_at = None

    def refresh(self):
        """Read the live conductors and rebuild every group's :class:`Membership`."""
        now = db_api.conductor_clock_now()
        live = {}
        conductors = {}
        for row in db_api.list_conductors():
            if is_alive(row, now, self.conf.conductor.heartbeat_timeout):
                group = row.get("conductor_group") or ""
                live.setdefault(group, {})[row["hostname"]] = row.get("hardware_types") or ()
                conductors[row["hostname"]] = row
        rings = {group: Membership(types) for group, types in live.items()}
        with self._lock:
            self._rings = rings
            self._conductors = conductors
            self._built_at = time.monotonic()
        return rings

    def _current(self):
        with self._lock:
            built = self._built_at
        if (built is None or time.monotonic() - built
                >= self.conf.conductor.hash_ring_reset_interval):
            self.refresh()
        with self._lock:
            return self._rings, self._conductors

    def membership(self, group: str):
        """The group's :class:`Membership`, or None when no conductor of it is alive."""
        rings, _ = self._current()
        return rings.get(group or "")

    def ring(self, group: str, hardware_type=None):
        """The :class:`Ring` of the group's conductors that enable ``hardware_type``
        (every live conductor of the group for None); None when there is none."""
        membership = self.membership(group)
        return None if membership is None else membership.ring(hardware_type)

    def conductor(self, hostname: str):
        """The conductors row of a live member (as of the last refresh), or None."""
        _, conductors = self._current()
        return conductors.get(hostname)

    def owner(self, group: str, key: str, node_label: str, hardware_type=None) -> str:
        """The host that owns ``key`` among the conductors of ``group`` that enable
        ``hardware_type``; NoConductorForGroup or NoConductorForHardwareType when none."""
        rings, _ = self._current()
        membership = rings.get(group or "")
        if membership is None:
            raise NoConductorForGroup(group=group or "", node=node_label,
                                      served=_served(rings),
                                      setting=("= %s" % group) if group
                                      else "unset or empty (the default group)")
        ring = membership.ring(hardware_type)
        if ring is None:
            raise NoConductorForHardwareType(group=group or "", node=node_label,
                                             driver=hardware_type,
                                             enabled=membership.described())
        return ring.owner(key)

    def owned_counts(self, registry, key_groups, left_out=None):
        """``{hostname: nodes owned}`` over ``db_api.node_ring_inputs()`` rows.

        Nodes of a hardware type ``registry`` does not enable cannot be keyed
        as the conductors key them: they are left out of the counts, and
        counted by type in ``left_out`` (a dict) when one is given.

        Nodes that share every ring-key input share a key -- controller
        keys are built from driver_info alone (drivers/base.py) -- unless
        the key is the node's own (ring_key's UUID fallback, a per-node
        queue): a group whose first two nodes get different keys is keyed
        node by node. Each key's owner is looked up once.
        """
        rings, _ = self._current()
        key_of = _KeyMaker(registry)
        counts = {}
        owners = {}
        for row in key_groups:
            group = row["conductor_group"] or ""
            membership = rings.get(group)
            ring = None if membership is None else membership.ring(row["driver"])
            if ring is None:
                continue
            if row["driver"] not in registry.hardware_types:
                if left_out is not None:
                    left_out[row["driver"]] = (left_out.get(row["driver"], 0)
                                               + len(row["uuids"]))
                continue
            uuids = row["uuids"]
            keys = [key_of(row, uuid) for uuid in uuids[:2]]
            if len(set(keys)) == 1:
                weighted = ((keys[0], len(uuids)),)
            else:
                keys += [key_of(row, uuid) for uuid in uuids[2:]]
                weighted = ((key, 1) for key in keys)
            for key, weight in weighted:
                host = owners.get((ring, key))
                if host is None:
                    host = owners[(ring, key)] = ring.owner(key)
                counts[host] = counts.get(host, 0) + weight
        return counts


class _KeyNode:
    """The part of a node its ring key is made of (db_api.RING_KEY_COLUMNS and
    its UUID): what ``owned_counts`` composes and hands ``controller_key``."""

    def __init__(self, row, uuid):
        self.__dict__.update(row)
        self.uuid = uuid


class _KeyMaker:
    """:func:`node_key` of a ``node_ring_inputs`` row's node, composing each
    (driver, interfaces) once: a count keys thousands of nodes of a few."""

    def __init__(self, registry):
        self.registry = registry
        self.drivers = {}

    def __call__(self, row, uuid):
        node = _KeyNode(row, uuid)
        which = (node.driver,) + tuple(row[field] for field in interface_types.NODE_FIELDS)
        if which not in self.drivers:
            try:
                self.drivers[which] = self.registry.compose(node)
            except exception.HWDriversError:
                self.drivers[which] = None  # node_key's rule: hashed by its UUID
        driver = self.drivers[which]
        return "node:%s" % uuid if driver is None else ring_key(node, driver)


def conductor_summaries(registry, rings=None, count=True, hostname=None, server_host=None,
                        left_out=None):
    """The conductor rows with ``alive`` and ``owned_nodes`` (what each owns now).

    What ``GET /v1/conductors`` and ``hwdrivers conductor list|show`` show.
    The rings are read from the database now; nodes are counted with one
    aggregate query over the ring-key columns of the groups that have a
    live conductor (``db_api.node_ring_inputs``). ``count=False`` leaves
    ``owned_nodes`` None and reads no node (a ``?fields=`` without it);
    ``hostname`` keeps that conductor's row only and counts its group only.

    An ``hwdrivers-server``, the one conductor of a one-process deployment,
    drives every node whatever its ``conductor_group`` (its power sync reads
    them all, its nodes show it as their ``conductor``), so it is counted
    every node, not only those its group's ring would give it. It is the
    row with no ``rpc_url`` (every ``hwdrivers-conductor`` has one), or
    ``server_host``, the server asking: the local CLI knows it by its row.
    ``left_out`` as :meth:`RingManager.owned_counts`.
    """
    rings = rings or RingManager()
    live = rings.refresh()
    rows = db_api.list_conductors()
    if hostname is not None:
        rows = [row for row in rows if row["hostname"] == hostname]
    counts = None
    if count:
        servers = {row["hostname"] for row in rows
                   if not row.get("rpc_url") or row["hostname"] == server_host}
        groups = {row.get("conductor_group") or "" for row in rows
                  if row["hostname"] not in servers}.intersection(live)
        counts = rings.owned_counts(registry, db_api.node_ring_inputs(groups),
                                    left_out=left_out)
        if servers:
            every_node = db_api.count_nodes()
            counts.update((host, every_node) for host in servers)
    timeout = rings.conf.conductor.heartbeat_timeout
    now = db_api.conductor_clock_now()
    return [dict(row, alive=is_alive(row, now, timeout),
                 owned_nodes=None if counts is None else counts.get(row["hostname"], 0))
            for row in rows]
