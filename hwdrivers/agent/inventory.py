"""In-band inspection: the machine's inventory, posted where the kernel line says.

With ``ipa-inspection-callback-url=URL`` on the kernel command line (the
conductor's ``/v1/continue_inspection``; ironic-inspector's ``/v1/continue``
takes the same body), the agent collects, before its lookup, what
ironic-python-agent's default collector reports, in the same shape:

* ``cpu``: ``count`` (logical CPUs in ``/proc/cpuinfo``), ``architecture``
  (``uname -m``), ``model_name``, ``frequency`` (MHz), ``flags``;
* ``memory``: ``total`` (bytes, ``MemTotal``) and ``physical_mb`` (the
  memory blocks in ``/sys/devices/system/memory``, else ``MemTotal``);
* ``disks``: ``lsblk`` disks (``name`` as ``/dev/...``, ``size`` in bytes,
  ``rotational``, ``serial``, ``model``, ``vendor``, ``wwn``, ``hctl``);
* ``interfaces``: ``ip -j link`` Ethernet links (``name``, ``mac_address``,
  ``has_carrier``), ``/sys/class/net`` without ``ip``; only those backed by a
  device when there are any (no bridges, bonds, veth, ifb), as IPA;
* ``boot``: ``current_boot_mode`` (``uefi`` when ``/sys/firmware/efi``
  exists, else ``bios``) and ``pxe_interface`` (``BOOTIF``);
* ``system_vendor``: ``dmidecode -s`` where it is installed and allowed,
  else ``/sys/class/dmi/id``; ``hostname``.

``--nic NAME=MAC`` and ``--disk PATH`` replace the NICs and disks read
from this host: the machine simulator runs the agent as a process on the
test host, and its "hardware" is its own MACs and disk image file.

The body is ``{"inventory": ..., "root_disk": ..., "boot_interface": ...,
"configuration": ..., "error": ...}``: a part that cannot be read is left
out and named in ``error`` (the data is still posted, as IPA does). The
post is retried on connection errors, 409 (the node is busy) and 5xx (5
attempts, 5 s apart growing to 30 s); the answer (``{"uuid": ...}``) is only logged: the
agent goes on to its lookup, and the conductor powers the machine off.
"""

import http.client
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

from hwdrivers.agent import __version__
from hwdrivers.agent import disk as disk_mod
from hwdrivers.agent import errors

LOG = logging.getLogger(__name__)

GiB = 1024 ** 3
POST_ATTEMPTS = 5
POST_WAIT = (5.0, 30.0)
_DMI_FIELDS = {"manufacturer": ("system-manufacturer", "sys_vendor"),
               "product_name": ("system-product-name", "product_name"),
               "serial_number": ("system-serial-number", "product_serial")}


def _read(path: str) -> str | None:
    try:
        with open(path, errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _run(argv: list[str]) -> str | None:
    """``argv``'s output, undecodable bytes replaced; None if it is missing or fails.

    Replaced, not refused: one link alias or DMI string in Latin-1 (``ip -j``
    passes bytes through as they are) made the whole part unreadable, and
    the inspection failed for a machine with no interface.
    """
    if shutil.which(argv[0]) is None:
        return None
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def cpu(cpuinfo: str | None = None) -> dict:
    text = cpuinfo if cpuinfo is not None else (_read("/proc/cpuinfo") or "")
    count, model, mhz, flags = 0, None, None, []
    for line in text.splitlines():
        key, _sep, value = (part.strip() for part in line.partition(":"))
        if key == "processor":
            count += 1
        elif key in ("model name", "Processor", "cpu model") and model is None:
            model = value
        elif key == "cpu MHz" and mhz is None:
            mhz = value
        elif key in ("flags", "Features") and not flags:
            flags = value.split()
    return {"count": count or os.cpu_count() or 1, "architecture": platform.machine(),
            "model_name": model, "frequency": mhz, "flags": flags}


def memory(meminfo: str | None = None, sys_memory: str = "/sys/devices/system/memory") -> dict:
    text = meminfo if meminfo is not None else (_read("/proc/meminfo") or "")
    total = 0
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) * 1024
    physical = 0
    block = _read(os.path.join(sys_memory, "block_size_bytes"))
    if block:
        size = int(block, 16)
        try:
            names = os.listdir(sys_memory)
        except OSError:
            names = []
        online = sum(1 for name in names if name.startswith("memory")
                     and _read(os.path.join(sys_memory, name, "online")) == "1")
        physical = size * online
    return {"total": total, "physical_mb": (physical or total) // (1024 * 1024)}


def disks(paths: list[str] | None = None) -> list[dict]:
    """Given disks (image files or devices), else every lsblk disk."""
    if paths:
        return [{"name": os.path.abspath(p), "size": disk_mod.size_of(p), "rotational": False,
                 "serial": None, "model": None, "vendor": None, "wwn": None, "hctl": None}
                for p in paths]
    return [{"name": "/dev/%s" % d["name"], "size": d["size"], "rotational": d["rota"],
             "serial": d["serial"], "model": d["model"], "vendor": d["vendor"],
             "wwn": d["wwn"], "hctl": d["hctl"]} for d in disk_mod.list_disks()]


def _physical(links: list[dict], sys_net: str) -> list[dict]:
    """The links backed by a device (as IPA reports), when there are any.

    Bridges, bonds, veth and ifb links have no ``device`` in sysfs; a host
    whose only links are virtual (a container) still reports those.
    """
    backed = [link for link in links
              if os.path.exists(os.path.join(sys_net, link["name"], "device"))]
    return backed or links


def interfaces(nics: list[tuple[str, str]] | None = None,
               sys_net: str = "/sys/class/net") -> list[dict]:
    """Given ``(name, mac)`` pairs, else this host's Ethernet links."""
    if nics:
        return [{"name": name, "mac_address": mac, "has_carrier": True} for name, mac in nics]
    links = []
    output = _run(["ip", "-j", "link", "show"])
    if output:
        for link in json.loads(output):
            if (isinstance(link, dict) and link.get("link_type") == "ether"
                    and link.get("address") and link.get("ifname")):
                links.append({"name": link["ifname"], "mac_address": link["address"].lower(),
                              "has_carrier": "LOWER_UP" in (link.get("flags") or ())})
        return _physical(links, sys_net)
    for name in sorted(os.listdir(sys_net)):
        base = os.path.join(sys_net, name)
        if _read(os.path.join(base, "type")) != "1":  # ARPHRD_ETHER
            continue
        links.append({"name": name, "mac_address": (_read(os.path.join(base, "address"))
                                                    or "").lower(),
                      "has_carrier": _read(os.path.join(base, "carrier")) == "1"})
    return _physical(links, sys_net)


def system_vendor() -> dict:
    found = {}
    for key, (dmi_key, sys_name) in _DMI_FIELDS.items():
        value = _run(["dmidecode", "-s", dmi_key]) if os.geteuid() == 0 else None
        found[key] = (value or _read("/sys/class/dmi/id/%s" % sys_name) or "").strip() or None
    return found


def boot(pxe_mac: str | None) -> dict:
    return {"current_boot_mode": "uefi" if os.path.isdir("/sys/firmware/efi") else "bios",
            "pxe_interface": pxe_mac}


def root_disk(found: list[dict]) -> dict | None:
    """IPA's default: the smallest disk of at least 4 GiB."""
    candidates = [d for d in found if (d.get("size") or 0) >= disk_mod.MIN_DEFAULT_DEVICE_SIZE]
    return min(candidates, key=lambda d: d["size"]) if candidates else None


def collect(nics: list[tuple[str, str]] | None = None, disk_paths: list[str] | None = None,
            pxe_mac: str | None = None) -> dict:
    """The body to post: the inventory and what IPA's default collector adds."""
    inventory: dict = {}
    failures = []
    for key, read in (("cpu", cpu), ("memory", memory),
                      ("disks", lambda: disks(disk_paths)),
                      ("interfaces", lambda: interfaces(nics)),
                      ("system_vendor", system_vendor), ("boot", lambda: boot(pxe_mac))):
        try:
            inventory[key] = read()
        except Exception as exc:  # any: the agent must go on to its lookup
            # A reader tripping on an odd machine (a KeyError, a TypeError) ended
            # the agent before its lookup; now the part is named in ``error``.
            failures.append("%s: %s" % (key, exc if isinstance(
                exc, (OSError, ValueError, errors.AgentError)) else repr(exc)))
    inventory["hostname"] = socket.gethostname()
    inventory["bmc_address"] = None
    if not inventory.get("interfaces"):
        failures.append("interfaces: no Ethernet interface found")
    return {"inventory": inventory, "root_disk": root_disk(inventory.get("disks") or []),
            "boot_interface": pxe_mac,
            "configuration": {"collectors": ["default"],
                              "managers": [{"name": "hwdrivers-agent",
                                            "version": __version__}]},
            "error": "; ".join(failures) or None}


def _answer(url: str, text: str) -> dict:
    """The JSON object a 2xx answer holds; ``{}`` for anything else, with a warning.

    The data was accepted either way. An HTML page (a callback URL that
    names a web server, a proxy) raised a JSONDecodeError out of the
    inspection, and the agent died before its lookup.
    """
    try:
        answer = json.loads(text) if text.strip() else {}
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        LOG.warning("inspection data posted to %s, but its answer is not a JSON object: "
                    "%.100r", url, text)
        return {}
    return answer


def post(url: str, data: dict, timeout: float = 30.0, sleep=time.sleep) -> dict | None:
    """POST ``data``; retried on connection errors, 409 and 5xx; the answer, or None on 4xx."""
    body = json.dumps(data).encode()
    wait = POST_WAIT[0]
    for attempt in range(1, POST_ATTEMPTS + 1):
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json",
            "User-Agent": "hwdrivers-agent/%s" % __version__})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return _answer(url, resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            exc.close()
            if exc.code < 500 and exc.code != 409:  # 409: the node is busy a moment
                LOG.error("inspection data refused by %s (%d): %s", url, exc.code, text[:500])
                return None
            problem = "%d %s" % (exc.code, text[:200])
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # HTTPException: not HTTP at all (BadStatusLine from a callback URL with
            # the wrong port), or cut short; it ended the agent before its lookup.
            problem = str(getattr(exc, "reason", exc)) or type(exc).__name__
        if attempt == POST_ATTEMPTS:
            break
        LOG.warning("posting inspection data to %s failed (%s); retrying in %.0fs",
                    url, problem, wait)
        sleep(wait)
        wait = min(wait * 1.5, POST_WAIT[1])
    raise errors.InspectionError("could not post the inspection data to %s after %d "
                                 "attempts: %s" % (url, POST_ATTEMPTS, problem))
