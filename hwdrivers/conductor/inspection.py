"""Inspection: a node describes itself; its properties and ports follow.

``inspect`` takes a manageable (or inspect failed) node to ``inspecting``
and calls its inspect interface in a worker holding the lock
(:func:`inspect`):

* out of band (``redfish``): the interface returns the inventory at once;
  it is processed (:func:`process`) and the node is ``manageable`` again;
* in band (``agent``): the interface boots the deploy ramdisk and returns
  ``inspect wait``; the worker ends and the lock is released. The agent
  posts its inventory to ``POST /v1/continue_inspection`` (api/inventory.py:
  :func:`find_waiting_node` by its MACs or ``node_uuid``, then the owning
  conductor's :func:`continue_inspection`), which processes the inventory in
  a worker, removes the ramdisk's boot files and powers the node off.

Processing, the same for both: the MACs the inventory lists are checked
first (a MAC that is another node's port refuses the whole inspection,
naming both nodes; an interface whose MAC is not one is left out, with a
warning); then ``properties`` get ``cpus``, ``cpu_arch``,
``memory_mb``, ``local_gb`` (the disk the ``root_device`` hints choose, else
the smallest of at least 4 GiB, less 1 GiB for partitioning, as Ironic)
and the ``boot_mode`` capability; ports
follow ``[inspector] add_ports``, ``keep_ports`` and ``update_pxe_enabled``
as Ironic's ports hook (by default a port for the NIC the machine
network-booted from only, pxe_enabled on it alone; re-inspection creates
no duplicate); the inventory is kept (``GET /v1/nodes/<node>/inventory``)
and the BIOS settings are cached when the node's bios interface reads them.

A failure sends the node to ``inspect failed`` with ``last_error``; ``manage``
or another ``inspect`` leave it. :func:`check_timeouts` fails a node waiting
in ``inspect wait`` past ``[deploy] callback_timeout``, and ends the ramdisk
of an in-band inspection whose worker died (:func:`tidy_orphans`); with
several conductors, only on the nodes this conductor owns on its group's
hash ring (``owns``, from conductor/service.py, as the power sync's), or
each conductor timed out and powered off every node, others' included.
"""

import ipaddress
import math
import time
import urllib.parse

from oslo_config import cfg

from hwdrivers.agent import disk as agent_disk
from hwdrivers.agent import errors as agent_errors
from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.common.states import PowerState
from hwdrivers.common.states import ProvisionState
from hwdrivers.conductor import cleaning
from hwdrivers.conductor import controllers
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.db import hardware as db_hardware
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import retry

CONF = cfg.CONF

MiB = 1024 ** 2
GiB = 1024 ** 3
#: Disks smaller than this are not root disk candidates (IPA's rule).
MIN_ROOT_DISK = 4 * GiB
#: Largest count or size an inventory may report (JSON's largest exact integer):
#: past it the number is a ramdisk's garbage, and clients would round it.
MAX_NUMBER = 2 ** 53 - 1
#: driver_internal_info key: when the node started waiting for the ramdisk.
WAIT_KEY = "inspect_wait_started_at"
#: Seconds the ramdisk's post waits for the node's lock: a fast agent can post
#: while the worker that booted it is still saving ``inspect wait``.
AGENT_LOCK_WAIT = 5.0
#: Inventory fields with the machine's BMC address (IPA's), for a lookup by it.
BMC_KEYS = ("bmc_address", "bmc_v6address")
#: States a post is looked up in (the second only until that worker is done).
_POST_STATES = (ProvisionState.INSPECTWAIT.value, ProvisionState.INSPECTING.value)


class MACConflict(exception.Conflict):
    fmt = ("Node %(node)s: inspection found MAC address %(mac)s, which is port %(port)s of "
           "node %(other)s; nothing was changed. Remove the port from %(other)s (or fix "
           "which machine each node's BMC addresses) and inspect again.")


class InspectionNotWaiting(exception.NotFound):
    fmt = "No node is waiting for inspection data with %(what)s."


def _call(task, interface, func, *args):
    return retry.run(task, interface, func, *args, gate=controllers.LIMITER.slot)


def _prepare(task) -> None:
    task.ports = db_api.list_ports(node_id=task.node.id)
    task.gate = controllers.LIMITER.slot


def validate(task) -> None:
    """Before answering: the power and inspect interfaces have what they need.

    With the node's ports, as a deploy's validation has them: ``agent``
    inspection through ``ipxe`` with no port was accepted, then failed in the
    worker, where a deploy is refused with 400.
    """
    task.ports = db_api.list_ports(node_id=task.node.id)
    task.driver.power.validate(task)
    task.driver.inspect.validate(task)


# -- the worker ------------------------------------------------------------------------

def inspect(task) -> None:
    """Run the node's inspect interface (in a worker, holding the lock)."""
    _prepare(task)
    iface = task.driver.inspect
    # An in-band inspection is marked from the start: should its worker die
    # before it waits (a conductor killed while the ramdisk boots), the node
    # that the restart fails is known to need its ramdisk ended (tidy_orphans).
    mark = {WAIT_KEY: time.time()} if getattr(iface, "in_band", False) else {}
    cleaning.set_state(task, ProvisionState.INSPECTING, ProvisionState.MANAGEABLE, **mark)
    result = _call(task, iface, iface.inspect_hardware)
    if result == ProvisionState.INSPECTWAIT.value:
        cleaning.set_state(task, ProvisionState.INSPECTWAIT, ProvisionState.MANAGEABLE,
             **{WAIT_KEY: time.time()})
        task.logger.info("inspection: waiting for the ramdisk's inventory")
        return
    if isinstance(result, dict):
        process(task, result.get("inventory") or {}, result.get("plugin_data") or {})
    finish(task)


def finish(task) -> None:
    task.node.last_error = None
    cleaning.set_state(task, ProvisionState.MANAGEABLE, None, **{WAIT_KEY: None})
    task.logger.info("inspection done")


# -- processing ------------------------------------------------------------------------

def _interfaces(inventory: dict, skipped: list | None = None) -> list[dict]:
    """The inventory's interfaces with a MAC, each MAC once: ``{name, mac, ip}``.

    An interface without a usable MAC (none, ``""``, ``"Not Available"``, a
    20-byte InfiniBand address, one no NIC has: :func:`_nic_mac`) gets no port and does not fail the
    inspection: it is left out, and added to ``skipped`` as ``(name, mac)``
    (ironic-inspector's validate_interfaces does the same). ``ip``: its
    IPv4 address, else its IPv6 one (without a ``%scope``), else None.
    """
    found, seen = [], set()
    for nic in _part(inventory, "interfaces", list):
        raw = nic.get("mac_address") if isinstance(nic, dict) else None
        try:
            mac = db_api.normalize_mac(raw)
        except exception.InvalidParameterValue:
            mac = None
        if mac is None or not _nic_mac(mac):
            if skipped is not None:
                skipped.append((nic.get("name") if isinstance(nic, dict) else None, raw))
            continue
        if mac in seen:
            continue
        seen.add(mac)
        ip = nic.get("ipv4_address") or nic.get("ipv6_address")
        found.append({"name": nic.get("name"), "mac": mac,
                      "ip": ip.split("%")[0] if isinstance(ip, str) and ip else None})
    return found


def _nic_mac(mac: str) -> bool:
    """Whether ``mac`` (normalised) can be a NIC's own address.

    Not all zeros (a BMC's disabled or unconfigured port, a ramdisk's
    ``lo``) nor a group address (the I/G bit of the first octet: broadcast,
    multicast). Taken as MACs, the first machine inspected got a port for
    such an address and every later one reporting it failed its inspection
    as a MAC of another node.
    """
    return mac != "00:00:00:00:00:00" and not int(mac[:2], 16) & 1


def _macs(inventory: dict, skipped: list | None = None) -> list[str]:
    """The inventory's MACs, normalised, each once (see :func:`_interfaces`)."""
    return [nic["mac"] for nic in _interfaces(inventory, skipped)]


def pxe_mac(inventory: dict) -> str | None:
    """The MAC the machine network-booted from (``boot.pxe_interface``), or None.

    The agent reports it from the kernel's ``BOOTIF``, which may be in
    pxelinux's form ``01-aa-bb-cc-dd-ee-ff`` (as Ironic reads it); anything
    that is not a MAC is taken as not reported.
    """
    raw = _part(inventory, "boot", dict).get("pxe_interface")
    if isinstance(raw, str) and raw.count("-") == 6:
        raw = raw.split("-", 1)[1].replace("-", ":")
    try:
        return db_api.normalize_mac(raw)
    except exception.InvalidParameterValue:
        return None


def _loopback(nic: dict) -> bool:
    if nic["name"] == "lo":
        return True
    try:
        return bool(nic["ip"]) and ipaddress.ip_address(nic["ip"]).is_loopback
    except ValueError:
        return False


#: ``[inspector] add_ports`` -> which interface (``nic``, the PXE MAC ``pxe``)
#: it selects, as Ironic's validate_interfaces: ``pxe`` selects all of them
#: when the inventory does not say which one booted (out of band). Loopback
#: interfaces never. ``disabled`` selects as ``all`` (what ``keep_ports =
#: added`` keeps) but creates no port.
_ADD_PORTS = {
    "all": lambda nic, pxe: True,
    "active": lambda nic, pxe: bool(nic["ip"]),
    "pxe": lambda nic, pxe: pxe is None or nic["mac"] == pxe,
    "disabled": lambda nic, pxe: True,
}


def _selected_macs(interfaces: list[dict], pxe: str | None) -> list[str]:
    wanted = _ADD_PORTS[CONF.inspector.add_ports]
    return [nic["mac"] for nic in interfaces if not _loopback(nic) and wanted(nic, pxe)]


def _tidy_ports(task, listed: list[str], selected: list[str], pxe: str | None) -> list[str]:
    """``[inspector] keep_ports`` and ``update_pxe_enabled`` on the node's ports.

    Returns what changed, for the log. ``keep_ports`` deletes nothing when
    the inventory lists no MAC at all (a ramdisk that could not read its
    NICs must not strip the node of the port it boots from).
    """
    keep = {"all": None, "present": set(listed),
            "added": set(selected)}[CONF.inspector.keep_ports]
    if keep is not None and not listed:
        task.logger.warning("inspection: the inventory lists no MAC address; [inspector] "
                            "keep_ports = %s deletes no port", CONF.inspector.keep_ports)
        keep = None
    changes = []
    for port in db_api.list_ports(node_id=task.node.id):
        address = port["address"]
        # API changes to ports wait for the node's lock, which inspection
        # holds; a port gone since the listing anyway (another tool on the
        # database) needs nothing more: its PortNotFound must not fail the
        # whole inspection after its data was read.
        try:
            if keep is not None and address not in keep:
                db_api.destroy_port(port["id"])
                changes.append("port %s (%s) deleted: [inspector] keep_ports = %s"
                               % (port["uuid"], address, CONF.inspector.keep_ports))
                continue
            if CONF.inspector.update_pxe_enabled and pxe is not None:
                wanted = address == pxe
                if (port.get("pxe_enabled") is not False) != wanted:
                    db_api.update_port(port["id"], {"pxe_enabled": wanted})
                    changes.append("port %s pxe_enabled=%s" % (address, wanted))
        except exception.PortNotFound:
            task.logger.info("inspection: port %s (%s) was deleted meanwhile",
                             port["uuid"], address)
    return changes


def _part(inventory: dict, key: str, kind: type):
    """``inventory[key]`` checked to be a ``kind`` (empty when absent)."""
    value = inventory.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise exception.InvalidParameterValue(
            "inventory field %s must be a JSON %s, not %s" % (
                key, "list" if kind is list else "object", type(value).__name__))
    return value


def _number(value, field: str, minimum: int = 1) -> int:
    """A whole number from ``minimum`` to MAX_NUMBER; InvalidParameterValue naming ``field``.

    Without this a ramdisk's ``"count": "lots"`` failed the inspection with
    Python's "invalid literal for int()", naming nothing; and ``-4`` CPUs,
    ``-1`` MiB or a 10**30-byte disk were written to the node's properties,
    where the scheduler matches flavors against them.
    """
    if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        raise exception.InvalidParameterValue(
            "inventory field %s is %r, not a whole number" % (field, value))
    try:
        if isinstance(value, bool):
            raise TypeError
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise exception.InvalidParameterValue(
            "inventory field %s is %.40r, not a number" % (field, value)) from None
    if not minimum <= number <= MAX_NUMBER:
        raise exception.InvalidParameterValue(
            "inventory field %s is %d; it must be from %d to %d: no machine has such "
            "hardware (out of band it is the BMC's report, in band the ramdisk's)"
            % (field, number, minimum, MAX_NUMBER))
    return number


def _text(value, field: str) -> str:
    """A non-empty string from the inventory (``cpu.architecture``); else InvalidParameterValue.

    A ``{"x": 1}`` architecture went into ``properties.cpu_arch`` as written,
    where flavors and deploy images compare it with ``x86_64``.
    """
    if not isinstance(value, str) or not value.strip():
        raise exception.InvalidParameterValue(
            "inventory field %s is %.40r, not a non-empty string" % (field, value))
    return value.strip()


def _disks(inventory: dict) -> list[dict]:
    """The inventory's disks that report a size, the size checked (a whole number)."""
    disks = []
    for index, disk in enumerate(_part(inventory, "disks", list)):
        if not isinstance(disk, dict):
            raise exception.InvalidParameterValue(
                "inventory field disks[%d] must be a JSON object" % index)
        if disk.get("size") is None:
            continue
        # 0: a card reader without a card, an empty optical drive (lsblk lists them)
        disks.append(dict(disk, size=_number(disk["size"], "disks[%d].size" % index,
                                             minimum=0)))
    return disks


def _as_lsblk(disk: dict) -> dict:
    """An inventory disk as the agent's hint matchers read an lsblk record.

    IPA's inventory gives ``tran`` and ``by_path`` (one /dev/disk/by-path
    link) too; without them a ``tran`` or ``by_path`` hint matched no disk,
    and ``local_gb`` came from the default disk with a note.
    """
    name = disk.get("name") if isinstance(disk.get("name"), str) else ""
    links = disk.get("by_path") if isinstance(disk.get("by_path"), list) else [disk.get("by_path")]
    return {"name": name.removeprefix("/dev/"), "size": disk["size"],
            "rota": bool(disk.get("rotational")), "disk": disk,
            "by_path": ["%s/%s" % (agent_disk.BY_PATH_DIR, link.strip().rpartition("/")[2])
                        for link in links if isinstance(link, str) and link.strip()],
            **{key: disk.get(key) for key in ("serial", "wwn", "model", "vendor", "hctl",
                                              "tran")}}


def _hinted_disk(disks: list[dict], hints, notes: list) -> dict | None:
    """The disk the node's ``root_device`` hints choose, as the deploy's agent chooses it.

    With the same matchers (hwdrivers/agent/disk.py: ``name``, ``size``,
    ``serial``, ``wwn``, ``model``, ``vendor``, ``hctl``, ``rotational``; the
    smallest of the matches). ``local_gb`` came from the smallest disk
    whatever the hints said, so a node whose hints name its 2 TB RAID volume
    next to a 64 GB boot SSD was scheduled as a 63 GB machine. Hints that
    match nothing (or an out-of-band inventory's disks, named by the BMC)
    add a note and leave the choice to the default rule.
    """
    if not isinstance(hints, dict):
        notes.append("properties.root_device is %.40r, not a JSON object of hints; "
                     "ignored" % (hints,))
        return None
    try:
        return agent_disk.choose_disk([_as_lsblk(d) for d in disks], hints)["disk"]
    except (agent_errors.AgentError, TypeError, ValueError) as exc:
        notes.append("%s; local_gb is from the smallest disk of at least 4 GiB" % exc)
        return None


def _root_disk(disks: list[dict], hints=None, notes: list | None = None) -> dict | None:
    """The root disk: by ``hints`` when given and matched, else the smallest of 4 GiB or more."""
    if hints:
        chosen = _hinted_disk(disks, hints, notes if notes is not None else [])
        if chosen is not None:
            return chosen
    candidates = [d for d in disks if d["size"] >= MIN_ROOT_DISK]
    return min(candidates, key=lambda d: d["size"]) if candidates else None


def _capabilities(text, updates: dict) -> str:
    """Merge ``updates`` into Ironic's ``"key:value,key:value"`` capabilities.

    An entry the operator wrote without a value (``"fast_disk"``) is kept as
    written, not turned into ``"fast_disk:"``, which matches other flavors.
    """
    caps = {}
    if isinstance(text, dict):
        caps.update({str(k): str(v) for k, v in text.items()})
    elif text:
        for item in str(text).split(","):
            key, sep, value = item.partition(":")
            if key.strip():
                caps[key.strip()] = value.strip() if sep else None
    caps.update(updates)
    return ",".join(key if value is None else "%s:%s" % (key, value)
                    for key, value in caps.items())


def properties_from(inventory: dict, hints=None, notes: list | None = None) -> dict:
    """The node properties an inventory gives (only what it reports).

    ``local_gb``: the root disk (:func:`_root_disk`: by the node's
    ``root_device`` ``hints``, else the smallest disk of at least 4 GiB),
    less 1 GiB for partitioning, as Ironic's root device hook; why hints
    were not used goes to ``notes``.

    ``disks`` reported as a list with no disk of at least 4 GiB (none, or a
    small USB stick only) is a diskless machine: ``local_gb`` 0, as Ironic's
    root device hook says. A re-inspected machine whose disks were removed
    kept the old ``local_gb``, and the scheduler sent instances to it.
    ``disks`` absent or null (the redfish interface when the BMC lists no
    storage) says nothing, and ``local_gb`` stays.
    """
    found = {}
    cpu = _part(inventory, "cpu", dict)
    if cpu.get("count"):
        found["cpus"] = _number(cpu["count"], "cpu.count")
    if cpu.get("architecture"):
        found["cpu_arch"] = _text(cpu["architecture"], "cpu.architecture")
    memory = _part(inventory, "memory", dict)
    if memory.get("physical_mb"):
        found["memory_mb"] = _number(memory["physical_mb"], "memory.physical_mb")
    elif memory.get("total"):
        found["memory_mb"] = _number(memory["total"], "memory.total", minimum=MiB) // MiB
    root = _root_disk(_disks(inventory), hints, notes)
    if root is not None:  # a hinted disk may be under 1 GiB: 0, as Ironic
        found["local_gb"] = max(root["size"] // GiB - 1, 0)
    elif isinstance(inventory.get("disks"), list):
        found["local_gb"] = 0
    return found


def _check_macs(task, macs: list[str]) -> list[str]:
    """The MACs the node has no port for yet; MACConflict if another node has one."""
    new = []
    for mac in macs:
        try:
            port = db_api.get_port(mac)
        except exception.PortNotFound:
            new.append(mac)
            continue
        if port["node_id"] != task.node.id:
            other = db_api.get_node(port["node_id"])
            raise MACConflict(node=task.node.ident, mac=mac, port=port["uuid"],
                              other=other.get("name") or other["uuid"])
    return new


def _create_ports(task, macs: list[str], pxe: str | None = None) -> None:
    """A port per MAC; if another node took one meanwhile, none and MACConflict.

    Before the properties are saved: a MAC that became another node's port
    between :func:`_check_macs` and here (two nodes inspected at once, both
    reporting it) failed the inspection with "A port with address ...
    already exists", naming no node, after the properties had been written
    and some ports created; the promise is that nothing changes.
    """
    created = []
    try:
        for mac in macs:
            values = {"address": mac, "node_id": task.node.id}
            if pxe is not None and CONF.inspector.update_pxe_enabled:
                values["pxe_enabled"] = mac == pxe
            created.append(db_api.create_port(values))
    except exception.PortAlreadyExists:
        for port in created:
            try:
                db_api.destroy_port(port["id"])
            except exception.PortNotFound:
                pass  # deleted meanwhile by the API: gone either way
        _check_macs(task, macs)  # MACConflict naming the node that has it
        raise


def process(task, inventory: dict, plugin_data: dict) -> None:
    """Properties, ports and the stored inventory from one inspection; checks first."""
    if not isinstance(inventory, dict):
        raise exception.InvalidParameterValue("the inventory must be a JSON object")
    skipped = []
    interfaces = _interfaces(inventory, skipped)
    macs = [nic["mac"] for nic in interfaces]
    pxe = pxe_mac(inventory)
    selected = _selected_macs(interfaces, pxe)
    new_macs = [mac for mac in _check_macs(task, macs) if mac in selected]
    if CONF.inspector.add_ports == "disabled":
        new_macs = []
    node = task.node
    props = dict(node.properties or {})
    notes = []
    props.update(properties_from(inventory, props.get("root_device"), notes))
    for name, raw in skipped:
        task.logger.warning("inspection: interface %s reports %.40r, not a MAC address; "
                            "no port for it", name or "(unnamed)", raw)
    for note in notes:
        task.logger.warning("inspection: root device hints: %s", note)
    mode = _part(inventory, "boot", dict).get("current_boot_mode")
    if mode in ("uefi", "bios"):
        props["capabilities"] = _capabilities(props.get("capabilities"), {"boot_mode": mode})
    _create_ports(task, new_macs, pxe)
    for change in _tidy_ports(task, macs, selected, pxe):
        task.logger.info("inspection: %s", change)
    node.properties = props
    task.save()
    db_hardware.save_inventory(node.id, inventory, plugin_data)
    task.logger.info("inspected: %s; %d MAC(s), %d new port(s) ([inspector] add_ports = %s, "
                     "PXE MAC %s)", ", ".join(
        "%s=%s" % (k, props[k]) for k in ("cpus", "cpu_arch", "memory_mb", "local_gb")
        if k in props) or "no properties reported", len(macs), len(new_macs),
        CONF.inspector.add_ports, pxe or "not reported")
    try:
        cleaning.cache_bios(task)
    except Exception as exc:  # the inspection stands; the BIOS table stays as it was
        task.logger.warning("reading the BIOS settings after inspection failed: %s", exc)


# -- in-band: the ramdisk's call -------------------------------------------------------

def _by_macs(macs: list[str]) -> dict | None:
    """The node with a port of one of ``macs``: the first that waits, else the last found."""
    record = None
    for mac in macs:
        try:
            record = db_api.get_node(db_api.get_port(mac)["node_id"])
        except exception.NotFound:
            continue
        if record["provision_state"] in _POST_STATES:
            break
    return record


def _bmc_ip(text) -> str | None:
    """``text`` (an IP, ``[v6]``, or a URL with one) as a normalised IP; None if it is none.

    Not the unspecified or loopback address: IPA reports ``0.0.0.0`` for a
    machine whose BMC it cannot read, and a node's ``127.0.0.1`` is an
    emulator on the conductor's host, not the machine's BMC.
    """
    if not isinstance(text, str):
        return None
    try:
        host = urllib.parse.urlsplit(text).hostname if "//" in text else text.strip("[] ")
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return None
    return None if address.is_unspecified or address.is_loopback else str(address)


def _bmc_ips(inventory: dict) -> set[str]:
    """The BMC addresses the inventory reports (IPA's ``bmc_address``, ``bmc_v6address``)."""
    return {ip for ip in (_bmc_ip(inventory.get(key)) for key in BMC_KEYS) if ip}


def _by_bmc(ips: set[str]) -> dict | None:
    """The waiting node whose driver_info names one of ``ips`` as its BMC, as Ironic's lookup.

    For a node with no port yet (enrolled with its BMC only, the ports to
    come from the inspection) booted by virtual media or by something else:
    ironic-python-agent sends no ``node_uuid`` and only MACs no port has, and
    the post was a 404 until ``inspect wait`` timed out. Any ``*_address``
    field of driver_info counts (``ipmi_address``, ``redfish_address``'s
    host...), written as an IP: a host name there is not resolved. Several
    waiting nodes with that BMC (IPMI bridging, a chassis manager) name none.
    """
    if not ips:
        return None
    found = [record for state in _POST_STATES
             for record in db_api.list_nodes({"provision_state": state})
             if ips & {_bmc_ip(value) for key, value in (record.get("driver_info") or {}).items()
                       if key.endswith("_address")}]
    if len(found) > 1:
        raise InspectionNotWaiting(what="BMC address %s: nodes %s all have it; give "
                                        "each a port or post with ?node_uuid=" % (
            ", ".join(sorted(ips)), ", ".join(r.get("name") or r["uuid"] for r in found)))
    return found[0] if found else None


def _waiting_node(macs: list[str], node_uuid: str | None, bmcs: set[str] = frozenset()) -> dict:
    if node_uuid:
        try:
            record = db_api.get_node(node_uuid)
        except exception.NodeNotFound:
            raise InspectionNotWaiting(what="node_uuid %s" % node_uuid) from None
        how = "node_uuid"
    else:
        record, how = _by_macs(macs), "those MAC addresses"
        if record is None:
            record, how = _by_bmc(bmcs), "that BMC address"
        if record is None:
            raise InspectionNotWaiting(what=" or ".join(filter(None, (
                "MAC addresses %s" % ", ".join(macs) if macs else None,
                "BMC address %s" % ", ".join(sorted(bmcs)) if bmcs else None))))
    if record["provision_state"] not in _POST_STATES:
        raise InspectionNotWaiting(what="%s (node %s is %s)" % (
            how, record.get("name") or record["uuid"], record["provision_state"]))
    return record


def find_waiting_node(inventory: dict, node_uuid: str | None = None) -> str:
    """The UUID of the node in inspect wait this inventory is for (API side, no lock).

    By ``node_uuid``, else a port with one of its MACs, else the BMC address
    it reports (:func:`_by_bmc`). Nothing to look the node up by is the
    caller's error, a 400 as Ironic's "No lookup information provided", not
    a 404 saying no node waits.
    """
    macs, bmcs = _macs(inventory), _bmc_ips(inventory)
    if not macs and not bmcs and not node_uuid:
        raise exception.InvalidParameterValue(
            "No interface of inventory.interfaces has a mac_address of the form "
            "aa:bb:cc:dd:ee:ff, no bmc_address was given, and no node_uuid: nothing "
            "names the node. Send the machine's NICs with their MACs, or "
            "?node_uuid=<node>.")
    return _waiting_node(macs, node_uuid, bmcs)["uuid"]


def continue_inspection(manager, context, ident: str, inventory: dict,
                        plugin_data: dict) -> dict:
    """The ramdisk's inventory for node ``ident`` (on the conductor owning it).

    Answers at once with the node's UUID (ironic-inspector's answer); the
    processing runs in a worker.
    """
    with task_manager.acquire(context, ident, purpose="inspection data",
                              lock_timeout=AGENT_LOCK_WAIT) as task:
        if task.node.provision_state != ProvisionState.INSPECTWAIT.value:
            raise InspectionNotWaiting(what="node %s" % task.node.ident)
        task.logger.info("inspection data received: %d interface(s)",
                         len(inventory.get("interfaces") or ()))
        if manager.workers is None:
            complete_in_band(task, inventory, plugin_data)
        else:
            task.spawn_after(manager.workers.submit, complete_in_band, task, inventory,
                             plugin_data)
        return {"uuid": task.node.uuid}


def _power_off(task) -> str | None:
    try:
        task.node.power_state = actions.set_power_state(
            task, PowerState.OFF, gate=controllers.LIMITER.slot).value
    except Exception as exc:
        return str(exc)
    return None


def _end_ramdisk(task) -> list[str]:
    """Remove the ramdisk's boot files and power off; the problems, if any."""
    problems = []
    try:
        _call(task, task.driver.boot, task.driver.boot.clean_up_ramdisk)
    except Exception as exc:
        problems.append("removing the ramdisk's boot files failed: %s" % exc)
    problem = _power_off(task)
    if problem:
        problems.append("powering the node off failed: %s" % problem)
    return problems


def _without_logs(task, plugin_data: dict) -> dict:
    """``plugin_data`` less IPA's ``logs`` (its ``logs`` collector's journal tarball).

    It was stored with the inventory and served by ``GET /v1/nodes/<node>/
    inventory`` to every API reader: megabytes per node of the ramdisk's
    journal, its kernel command line included. Ironic drops it before
    storing the data too ("logs can be huge and are stored separately").
    """
    if "logs" not in plugin_data:
        return plugin_data
    logs = plugin_data["logs"]
    task.logger.info("inspection: the ramdisk's logs (%d characters) are not kept",
                     len(logs) if isinstance(logs, str) else 0)
    return {key: value for key, value in plugin_data.items() if key != "logs"}


#: Characters of the ramdisk's ``error`` quoted in ``last_error``.
RAMDISK_ERROR_SHOWN = 1000


def _shortened(error) -> str:
    """The ramdisk's ``error`` for ``last_error``, cut to RAMDISK_ERROR_SHOWN characters.

    Whatever the ramdisk sent went into ``last_error`` whole: a 900 KB
    string rode along in every node listing showing it.
    """
    return log_text.cut(error if isinstance(error, str) else repr(error),
                        RAMDISK_ERROR_SHOWN)


def complete_in_band(task, inventory: dict, plugin_data: dict) -> None:
    """In a worker holding the lock: process, power off, manageable (or inspect failed)."""
    _prepare(task)
    cleaning.set_state(task, ProvisionState.INSPECTING, ProvisionState.MANAGEABLE)
    plugin_data = _without_logs(task, plugin_data)
    try:
        if plugin_data.get("error"):
            raise exception.HWDriversError("the ramdisk reported: %s"
                                           % _shortened(plugin_data["error"]))
        process(task, inventory, plugin_data)
    except Exception as exc:
        fail(task, "inspect failed in provision state inspecting: %s" % exc)
        return
    problems = _end_ramdisk(task)
    if problems:
        fail(task, "inspection data processed, but %s" % "; ".join(problems), power_off=False)
        return
    finish(task)


def fail(task, message: str, power_off: bool = True) -> None:
    if power_off:
        problems = _end_ramdisk(task)
        if problems:
            message = "%s (%s)" % (message, "; ".join(problems))
    task.node.last_error = message
    cleaning.set_state(task, ProvisionState.INSPECTFAIL, None, **{WAIT_KEY: None})
    task.logger.error("%s", message)


def abort(task) -> None:
    """An operator aborted an in-band inspection (the node is inspect failed already)."""
    _prepare(task)
    problems = _end_ramdisk(task)
    task.node.last_error = "inspection aborted by request in inspect wait%s" % (
        " (%s)" % "; ".join(problems) if problems else "")
    base.update_internal_info(task, **{WAIT_KEY: None})  # it waits no more
    task.save()


#: appended to the last_error of an in-band inspection tidied by tidy_orphans
ORPHAN_TIDIED = "; its ramdisk boot files were removed and the node powered off"


def _in_band(node):
    """When the node's in-band inspection began waiting (``WAIT_KEY``), or None."""
    return (node.driver_internal_info or {}).get(WAIT_KEY)


def tidy_orphans(context, owns=None) -> list[str]:
    """End the ramdisk of in-band inspections that failed without ending it.

    A conductor killed while an in-band inspection worked (``inspecting``:
    booting the ramdisk, or processing its inventory) has the node moved to
    ``inspect failed`` by its restart, in the database alone: the machine
    went on running the ramdisk, its boot files in place. So did an
    inspection whose boot failed half-way (the power on after the boot
    files were written). Such a node keeps the in-band mark (``WAIT_KEY``),
    which :func:`fail`, :func:`finish` and :func:`abort` clear; here it gets
    what :func:`fail` does. Not a node in maintenance (no power action
    under an operator's hands). With ``owns`` (``owns(node) -> bool``), only
    the nodes it accepts. Returns the UUIDs tidied.
    """
    tidied = []
    for task in task_manager.each_locked(
            context, ProvisionState.INSPECTFAIL.value, _in_band, "inspection clean-up", owns):
        _prepare(task)
        fail(task, (task.node.last_error or "inspection interrupted") + ORPHAN_TIDIED)
        tidied.append(task.node.uuid)
    return tidied


def check_timeouts(context=None, owns=None) -> list[str]:
    """Fail the in-band inspections waiting past ``[deploy] callback_timeout``.

    Not those of nodes in maintenance (as Ironic's inspect wait timeouts): the
    failure powers the node off, which an operator who took it out of service
    did not ask for. They time out once maintenance ends. With ``owns``
    (``owns(node) -> bool``: this conductor's share), only the nodes it
    accepts, checked again under the lease.
    """
    from hwdrivers.common import context as hw_context

    context = context or hw_context.get_admin_context()
    tidy_orphans(context, owns)
    limit = CONF.deploy.callback_timeout
    failed = []

    def overdue(node):
        return time.time() - (_in_band(node) or 0) > limit

    for task in task_manager.each_locked(
            context, ProvisionState.INSPECTWAIT.value, overdue, "inspection timeout", owns):
        started = _in_band(task.node) or 0
        _prepare(task)
        fail(task, "timeout in inspect wait: no inventory from the ramdisk for %ds "
                   "([deploy] callback_timeout = %ds); the node was powered off"
                   % (time.time() - started, limit))
        failed.append(task.node.uuid)
    return failed


class InventoryNotFound(exception.NotFound):
    fmt = ("Node %(node)s has no inspection data: inspect it first (provision target "
           "inspect, from manageable).")


def stored_inventory(context, ident) -> dict:
    """What the node's last inspection stored; InventoryNotFound if none."""
    record = db_api.get_node(ident)
    stored = db_hardware.get_inventory(record["id"])
    if stored is None:
        raise InventoryNotFound(node=record.get("name") or record["uuid"])
    return {"inventory": stored["inventory"] or {}, "plugin_data": stored["plugin_data"] or {}}
