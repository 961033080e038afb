"""Inspect interface ``redfish``: what a system says about itself over Redfish.

Out of band, nothing booted: one pass over the ComputerSystem and the
resources it links — ``Processors`` (logical CPUs: the sum of
``TotalThreads``; the architecture from ``InstructionSet`` or
``ProcessorArchitecture``), ``MemorySummary.TotalSystemMemoryGiB``,
``Storage/*/Drives`` (size, media type, serial, model; ``SimpleStorage``
devices when there is no Storage), ``EthernetInterfaces`` (MACs:
``MACAddress``, else ``PermanentMACAddress`` when the first is no NIC's
address) and
``Boot.BootSourceOverrideMode`` (boot mode). The result is an inventory
in ironic-python-agent's shape (``cpu``, ``memory``, ``disks``,
``interfaces``, ``boot``, ``system_vendor``) so the conductor treats
in-band and out-of-band inspection alike (conductor/inspection.py);
whatever the BMC does not publish is left out and listed in
``plugin_data["not_reported"]``, as is a storage resource or drive it
answers an HTTP error for (the drives that answer are kept).
"""

import re

from hwdrivers.drivers import base
from hwdrivers.drivers.modules import redfish
from hwdrivers.drivers.modules import redfish_session

#: Redfish InstructionSet / ProcessorArchitecture -> the architecture Linux names.
CPU_ARCHES = {"x86-64": "x86_64", "x86": "x86_64", "IA-64": "ia64", "ARM-A64": "aarch64",
              "ARM-A32": "armv7l", "ARM": "aarch64", "PowerISA": "ppc64le",
              "Power": "ppc64le", "MIPS64": "mips64", "MIPS": "mips64"}
#: Redfish BootSourceOverrideMode -> Ironic's boot_mode capability.
BOOT_MODES = {"UEFI": "uefi", "Legacy": "bios"}
#: Drive MediaType -> IPA's "rotational".
ROTATIONAL = {"HDD": True, "SSD": False, "SMR": True}


def _value(field):
    return getattr(field, "value", field)


_DASHED_MAC = re.compile(r"^([0-9a-f]{2}-){5}[0-9a-f]{2}$")


def _mac(text) -> str:
    """Lower case, colon separated: Redfish's MACAddress pattern allows ``AA-BB-...``.

    Anything else that is not a MAC is passed on as reported; the conductor
    leaves that interface out (no port) instead of failing the inspection.
    """
    mac = str(text).strip().lower()
    return mac.replace("-", ":") if _DASHED_MAC.match(mac) else mac


_COLON_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def _usable(mac: str) -> bool:
    """Whether ``mac`` (from :func:`_mac`) can be a NIC's own address.

    BMCs report ``MACAddress`` as ``"Not Available"`` or all zeros for a
    port that is disabled or not yet configured, while its
    ``PermanentMACAddress`` holds the burned-in one. The NIC was reported
    with the unusable one, so the conductor made no port for it; now the
    permanent address is taken instead (the same rule as the conductor's:
    not all zeros, not a group address).
    """
    return (bool(_COLON_MAC.match(mac)) and mac != "00:00:00:00:00:00"
            and not int(mac[:2], 16) & 1)


class RedfishInspect(redfish._RedfishBase, base.InspectInterface):
    """Out-of-band inspection through sushy; synchronous (no ramdisk)."""

    def inspect_hardware(self, task):
        """``{"inventory": ..., "plugin_data": ...}`` read from the BMC."""
        missing = []
        with self._system(task, "inspecting the hardware") as (_entry, system):
            inventory = {"interfaces": self._interfaces(system, missing)}
            for key, reader in (("cpu", self._cpu), ("memory", self._memory),
                                ("disks", lambda s: self._disks(s, missing)),
                                ("boot", self._boot)):
                value = reader(system)
                if value is None:
                    missing.append(key)
                else:
                    inventory[key] = value
            inventory["system_vendor"] = {
                "manufacturer": system.manufacturer, "product_name": system.model,
                "serial_number": system.serial_number, "sku": system.sku}
            path = system.path
        task.logger.info("redfish inspection of %s: %d NIC(s), %d disk(s)%s", path,
                         len(inventory["interfaces"]), len(inventory.get("disks") or ()),
                         "; not reported: %s" % ", ".join(missing) if missing else "")
        return {"inventory": inventory,
                "plugin_data": {"inspector": "redfish", "system": path,
                                "not_reported": missing}}

    # -- one reader per part; None when the BMC does not publish it --------

    @staticmethod
    def _errors():
        sushy = redfish_session._sushy()
        return (sushy.exceptions.MissingAttributeError,
                sushy.exceptions.ResourceNotFoundError,
                sushy.exceptions.BadRequestError)

    def _members(self, get):
        try:
            return list(get().get_members())
        except self._errors():
            return None

    def _cpu(self, system):
        processors = self._members(lambda: system.processors)
        count, arch, model = 0, None, None
        for proc in processors or ():
            if _value(proc.processor_type) not in (None, "CPU"):
                continue
            count += proc.total_threads or proc.total_cores or 0
            arch = arch or _value(proc.instruction_set) or _value(proc.processor_architecture)
            model = model or proc.model
        if not count:
            count = (system.json.get("ProcessorSummary") or {}).get("Count") or 0
        if not count:
            return None
        return {"count": count, "architecture": CPU_ARCHES.get(arch, arch),
                "model_name": model}

    def _memory(self, system):
        summary = system.memory_summary
        size = summary.size_gib if summary is not None else None
        if not size:
            return None
        return {"physical_mb": int(size * 1024), "total": int(size * 1024 ** 3)}

    @staticmethod
    def _answered(get, path, missing):
        """``get(path)``, or None when the BMC answers an HTTP error for ``path``
        (then named in ``missing``). Not a connection error: a BMC gone
        mid-inspection fails it, to be retried whole."""
        try:
            return get(path)
        except redfish_session._sushy().exceptions.HTTPError as exc:
            missing.append("%s (HTTP %s)" % (path, getattr(exc, "status_code", "error")))
            return None

    def _each(self, get, missing):
        """The members of the collection ``get()`` returns that the BMC answers for.

        Storage members and drives one by one: a Drive link the BMC answers
        404 for (an empty bay, a drive pulled) or a Storage resource
        answering 500 (a RAID controller's firmware busy) failed the whole
        inspection, CPUs, memory and NICs included; Ironic goes on without
        them too.
        """
        try:
            collection = get()
        except self._errors():
            return
        except redfish_session._sushy().exceptions.HTTPError as exc:
            missing.append("storage (HTTP %s)" % getattr(exc, "status_code", "error"))
            return
        for path in collection.members_identities or ():
            member = self._answered(collection.get_member, path, missing)
            if member is not None:
                yield member

    def _disks(self, system, missing):
        disks = []
        for storage in self._each(lambda: system.storage, missing):
            for path in storage.drives_identities or ():
                drive = self._answered(storage.get_drive, path, missing)
                if drive is None:
                    continue
                media = drive.media_type
                disks.append({"name": drive.name or drive.identity, "size": drive.capacity_bytes,
                              "serial": drive.serial_number, "model": drive.model,
                              "vendor": drive.manufacturer, "media_type": media,
                              "rotational": ROTATIONAL.get(media),
                              "protocol": _value(drive.protocol)})
        if disks:
            return disks
        for controller in self._members(lambda: system.simple_storage) or ():
            for device in controller.devices or ():
                if device.capacity_bytes:
                    disks.append({"name": device.name, "size": device.capacity_bytes,
                                  "serial": None, "model": getattr(device, "model", None),
                                  "vendor": getattr(device, "manufacturer", None),
                                  "media_type": None, "rotational": None})
        return disks or None

    def _interfaces(self, system, missing):
        nics = self._members(lambda: system.ethernet_interfaces)
        if nics is None:
            missing.append("interfaces")
            return []
        found = []
        for nic in nics:
            reported = [_mac(raw) for raw in (nic.mac_address, nic.permanent_mac_address)
                        if raw]
            if reported:
                mac = next((m for m in reported if _usable(m)), reported[0])
                found.append({"name": nic.identity or nic.name, "mac_address": mac})
        return found

    def _boot(self, system):
        mode = BOOT_MODES.get(_value(system.boot.mode)) if system.boot is not None else None
        return {"current_boot_mode": mode} if mode else None
