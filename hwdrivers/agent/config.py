"""The agent's settings: command-line flags, kernel command line, defaults.

A deploy ramdisk learns everything from its kernel command line (what an
iPXE script or a virtual-media ISO puts there): ``ipa-api-url=...``,
``BOOTIF=01-aa-bb-...`` and the other ``ipa-*`` arguments in
:data:`KERNEL_ARGS`. The same line can be handed to the agent as a string
or a file, so the machine simulator starts it exactly as a machine would.
A flag given on the command line wins over the kernel argument.

``ipa-agent-token`` is a secret: it is read from a kernel command line
*file* (``/proc/cmdline`` on a real ramdisk) and refused in
``--kernel-cmdline``, where it would show in the process list.
"""

import dataclasses
import re
import shlex
from collections.abc import Callable
from typing import Any


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not a boolean: %r" % value)


def _urls(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def _bootif(value: str) -> list[str]:
    """PXE's ``BOOTIF=01-aa-bb-cc-dd-ee-ff`` (hardware type 01 = Ethernet)."""
    parts = value.strip().lower().split("-")
    if len(parts) == 7 and parts[0] == "01":
        parts = parts[1:]
    return [normalise_mac(":".join(parts))]


_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def normalise_mac(value: str) -> str:
    mac = value.strip().lower().replace("-", ":")
    if not _MAC.match(mac):
        raise ValueError("not a MAC address: %r (use aa:bb:cc:dd:ee:ff)" % value)
    return mac


#: kernel argument -> (AgentConfig field, parser)
KERNEL_ARGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "ipa-api-url": ("api_urls", _urls),
    "BOOTIF": ("macs", _bootif),
    "ipa-node-uuid": ("node_uuid", str),
    "ipa-listen-host": ("listen_host", str),
    "ipa-listen-port": ("listen_port", int),
    "ipa-advertise-host": ("advertise_host", str),
    "ipa-advertise-port": ("advertise_port", int),
    "ipa-lookup-timeout": ("lookup_timeout", float),
    "ipa-lookup-interval": ("lookup_interval", float),
    "ipa-insecure": ("insecure", _bool),
    "ipa-agent-token": ("agent_token", str),
    "ipa-ironic-api-version": ("ironic_api_version", str),
    "ipa-global-request-id": ("request_id", str),
    "ipa-http-request-timeout": ("http_timeout", float),
    "ipa-image-download-connection-timeout": ("download_timeout", float),
    "ipa-image-download-connection-retries": ("download_retries", int),
    "ipa-image-download-connection-retry-interval": ("download_retry_interval", float),
    "ipa-debug": ("debug", _bool),
    "ipa-inspection-callback-url": ("inspection_callback_url", str),
}
SECRET_KERNEL_ARGS = frozenset({"ipa-agent-token"})


@dataclasses.dataclass
class AgentConfig:
    api_urls: list[str] = dataclasses.field(default_factory=list)
    macs: list[str] = dataclasses.field(default_factory=list)
    node_uuid: str | None = None         # sent with lookup when the boot script names it
    listen_host: str = "0.0.0.0"
    listen_port: int = 9999              # 0: any free port (advertised as bound)
    advertise_host: str | None = None    # default: the address that routes to the API
    advertise_port: int | None = None    # default: the port actually bound
    root_device: str | None = None       # a block device or a disk image file
    root_device_hints: dict = dataclasses.field(default_factory=dict)
    lookup_timeout: float = 600.0
    lookup_interval: float = 1.0
    lookup_max_interval: float = 60.0
    min_heartbeat_interval: float = 5.0
    insecure: bool = False
    ca_file: str | None = None
    agent_token: str | None = None
    ironic_api_version: str | None = None
    request_id: str | None = None
    http_timeout: float = 30.0
    download_timeout: float = 60.0
    download_retries: int = 3
    download_retry_interval: float = 5.0
    allow_md5: bool = False
    tmp_dir: str | None = None
    power_off_command: str = "poweroff"
    reboot_command: str = "reboot"
    debug: bool = False
    #: where to post the inventory before lookup (inventory.py); None: no inspection
    inspection_callback_url: str | None = None
    #: (name, MAC) NICs and disk paths to report instead of this host's
    nics: list = dataclasses.field(default_factory=list)
    disks: list = dataclasses.field(default_factory=list)

    def pinned_version(self) -> tuple[int, int] | None:
        if not self.ironic_api_version:
            return None
        major, _, minor = self.ironic_api_version.partition(".")
        return int(major), int(minor)


#: field -> (least value, whether the least is allowed, where it is set). An
#: interval of 0 made lookup (0 doubled stays 0) or the heartbeat after an error
#: retry in a tight loop against the API; a negative retry count ran no download
#: at all and failed with a bare KeyError.
BOUNDS: dict[str, tuple[float, bool, str]] = {
    "lookup_timeout": (0, True, "--lookup-timeout / ipa-lookup-timeout"),
    "lookup_interval": (0, False, "--lookup-interval / ipa-lookup-interval"),
    "lookup_max_interval": (0, False, "lookup_max_interval"),
    "min_heartbeat_interval": (0, False, "--min-heartbeat-interval"),
    "http_timeout": (0, False, "ipa-http-request-timeout"),
    "download_timeout": (0, False, "--download-timeout / "
                                   "ipa-image-download-connection-timeout"),
    "download_retries": (0, True, "--download-retries / "
                                  "ipa-image-download-connection-retries"),
    "download_retry_interval": (0, True, "--download-retry-interval / "
                                         "ipa-image-download-connection-retry-interval"),
}


def check_bounds(conf: AgentConfig) -> None:
    """ValueError naming the first setting out of :data:`BOUNDS`, and where it was set."""
    for field, (least, inclusive, where) in BOUNDS.items():
        value = getattr(conf, field)
        if value < least or (value == least and not inclusive):
            raise ValueError("%s must be %s %s, got %s" % (
                where, "at least" if inclusive else "more than", least, value))


def parse_kernel_cmdline(text: str) -> dict[str, Any]:
    """``{field: value}`` for the known arguments of a kernel command line.

    Unknown arguments (``console=``, ``nofb``...) are ignored, as the kernel
    line carries much that is not for the agent. A known argument with a bad
    value raises ValueError naming it.
    """
    values: dict[str, Any] = {}
    for token in shlex.split(text):
        key, sep, raw = token.partition("=")
        if not sep or key not in KERNEL_ARGS:
            continue
        field, parse = KERNEL_ARGS[key]
        try:
            values[field] = parse(raw)
        except ValueError as exc:
            raise ValueError("kernel argument %s: %s" % (key, exc))
    return values


def parse_nic(value: str) -> tuple[str, str]:
    """``--nic eth0=52:54:00:12:34:56`` -> ("eth0", "52:54:00:12:34:56")."""
    name, sep, mac = value.partition("=")
    if not sep or not name.strip():
        raise ValueError("--nic %r must be NAME=MAC (e.g. eth0=52:54:00:12:34:56)" % value)
    return name.strip(), normalise_mac(mac)


def secret_args_in(text: str) -> list[str]:
    return sorted({t.partition("=")[0] for t in shlex.split(text)} & SECRET_KERNEL_ARGS)
