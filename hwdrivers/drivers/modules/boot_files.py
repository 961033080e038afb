"""What boot interfaces share: where boot files live, the URLs, the agent's kernel line.

Boot files are written under ``[deploy] http_root`` and fetched by machines
from ``[deploy] http_url``; the service serves that directory at ``/boot/``
itself (api/bootfiles.py), or an operator points a web server at it. A
deploy kernel or ramdisk given as an http(s) URL is used as is; one given as
a local path (or ``file://`` URL) under ``[deploy] local_file_allowed_paths``
is linked into the node's directory under ``http_root`` so machines can
fetch it over HTTP (any other local path is refused: it would be served
without authentication). The kernel command line
carries the API URL (``ipa-api-url``), the boot interface's MAC
(``BOOTIF``) and the node's UUID (``ipa-node-uuid``); never the agent
token, which the agent receives at lookup.
"""

import os
import tempfile
from urllib import parse


from hwdrivers.common import exception
from hwdrivers.conf import CONF
from hwdrivers.drivers import params



def _url_or_path(value: str) -> None:
    # A space ends the URL in the iPXE script (the rest became kernel arguments),
    # and a line break started a script line of its own.
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain spaces or control characters; percent-encode "
                         "them in a URL (%20 for a space)")
    if value.startswith(("http://", "https://")):
        return
    path = value[len("file://"):] if value.startswith("file://") else value
    if not os.path.isabs(path):
        raise ValueError("must be an http(s) URL or an absolute file path (or file:// URL)")


DEPLOY_KERNEL = params.Param(
    "deploy_kernel", "The deploy ramdisk's kernel (with hwdrivers-agent or "
    "ironic-python-agent inside): an http(s) URL or an absolute path on the conductor",
    required=True, check=_url_or_path)
DEPLOY_RAMDISK = params.Param(
    "deploy_ramdisk", "The deploy ramdisk's initramfs: an http(s) URL or an absolute "
    "path on the conductor", required=True, check=_url_or_path)
#: Words iPXE reads as the end of a command, running what follows as the next one
_IPXE_TERMINATORS = frozenset({"||", "&&", ";"})


def _kernel_arguments(value: str) -> None:
    """Kernel arguments only: an API user supplies values, never commands.

    In the iPXE script ``x ; chain http://elsewhere/`` ran a command of the
    user's after the kernel line.
    """
    found = sorted(_IPXE_TERMINATORS.intersection(value.split()))
    if found:
        raise ValueError("must be kernel arguments only; %s on its own is a command "
                         "separator in the iPXE script: remove it"
                         % " and ".join("'%s'" % w for w in found))


KERNEL_APPEND = params.Param(
    "kernel_append_params", "Extra kernel arguments for this node's deploy ramdisk, "
    "added to [deploy] kernel_append_params", check=_kernel_arguments)


#: The in-tree boot interfaces that put the deploy ramdisk in front of a machine
#: (named in the fix when a node's boot interface cannot).
RAMDISK_BOOT_INTERFACES = ("ipxe", "redfish-virtual-media")


def boots_ramdisk(task) -> bool:
    """Whether the node's boot interface puts the deploy ramdisk in front of it."""
    return bool(task.driver.boot.boots_ramdisk)


def require_ramdisk_boot(task, needed_by: str, unmanaged_option: str | None = None) -> None:
    """Refuse a node whose boot interface cannot boot the deploy ramdisk.

    ``needed_by`` names what needs the ramdisk (``"deploy_interface direct"``,
    ``"inspect_interface agent"``). A boot interface says it boots nothing
    with ``boots_ramdisk = False`` (``noop``): without this check the node
    was powered on into whatever its disk holds and the request failed only
    after ``[deploy] callback_timeout``, with nothing naming the cause. As
    Ironic's agent inspection refuses a boot interface that cannot manage
    the boot (``[inspector] require_managed_boot``, true for ``agent``).
    ``unmanaged_option``: the option that allows a ramdisk booted by
    something else, named in the refusal.
    """
    if boots_ramdisk(task):
        return
    boot = task.driver.boot
    name = getattr(boot, "name", None) or task.driver.interface_names.get("boot")
    supported = [n for n in task.driver.hardware_type.supported_interfaces("boot")
                 if n in RAMDISK_BOOT_INTERFACES]
    fix = (" or ".join(supported) if supported else
           "an implementation that boots a ramdisk (hardware type %s has none)"
           % task.driver.name)
    raise exception.InvalidParameterValue(
        "Node %s: %s needs a boot interface that can boot the deploy ramdisk, and "
        "boot_interface %s boots nothing; set boot_interface to %s%s"
        % (task.node.ident, needed_by, name, fix,
           " (or set %s = false to boot the ramdisk yourself)" % unmanaged_option
           if unmanaged_option else ""))


def http_root() -> str:
    root = CONF.deploy.http_root or os.path.join(CONF.state_path, "httpboot")
    return os.path.abspath(root)


def http_url() -> str:
    if CONF.deploy.http_url:
        return CONF.deploy.http_url.rstrip("/")
    return "http://%s:%d/boot" % (_reachable_host("[deploy] http_url"), CONF.api.port)


def api_url() -> str:
    if CONF.deploy.api_url:
        return CONF.deploy.api_url.rstrip("/")
    return "http://%s:%d" % (_reachable_host("[deploy] api_url"), CONF.api.port)


def _reachable_host(option: str) -> str:
    host = CONF.api.host
    if host in ("0.0.0.0", "::", ""):
        raise exception.DriverSettingsError(
            "[api] host is %r, which machines cannot call; set %s to an address they "
            "reach" % (host, option))
    return "[%s]" % host if ":" in host else host


def hexhyp(mac: str) -> str:
    """iPXE's ``${mac:hexhyp}``: 52-54-00-12-34-56."""
    return mac.strip().lower().replace(":", "-")


def node_dir(task) -> str:
    return os.path.join(http_root(), task.node.uuid)


def write_file(path: str, text: str) -> None:
    """Write atomically: a machine fetching mid-write gets the old or the new file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_tree(path: str) -> None:
    if not os.path.isdir(path):
        return
    for name in os.listdir(path):
        remove(os.path.join(path, name))
    try:
        os.rmdir(path)
    except OSError:
        pass


def local_file(task, field: str) -> str | None:
    """The local file driver_info ``field`` names, or None for an http(s) URL.

    Only files under ``[deploy] local_file_allowed_paths`` (symbolic links
    resolved) are accepted: they end up served without authentication.
    """
    value = (task.node.driver_info or {}).get(field)
    if not value or value.startswith(("http://", "https://")):
        return None
    path = os.path.realpath(value[len("file://"):] if value.startswith("file://") else value)
    allowed = [os.path.realpath(p) for p in CONF.deploy.local_file_allowed_paths if p]
    if not any(path == d or path.startswith(d.rstrip("/") + "/") for d in allowed):
        raise exception.DriverSettingsError(
            "driver_info %s is a local path outside [deploy] local_file_allowed_paths "
            "(%s); give an http(s) URL, or put the file in an allowed directory"
            % (field, ", ".join(allowed) or "empty: local files are not accepted"),
            node=task.node.ident)
    if not os.path.isfile(path):
        raise exception.DriverSettingsError(
            "driver_info %s: %s is not a file on this conductor" % (field, path),
            node=task.node.ident)
    return path


def published_url(task, field: str) -> str:
    """The URL machines fetch driver_info ``field`` from (linking a local file in)."""
    source = local_file(task, field)
    if source is None:
        return task.node.driver_info[field]
    target = os.path.join(node_dir(task), field)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    remove(target)
    os.symlink(source, target)
    return "%s/%s/%s" % (http_url(), task.node.uuid, field)


def node_url(task, name: str) -> str:
    return "%s/%s/%s" % (http_url(), task.node.uuid, parse.quote(name))


def kernel_params(task, bootif: str | None = None, extra: dict | None = None) -> str:
    """The deploy ramdisk's kernel command line (no secrets in it), on one line.

    Split on whitespace only, as iPXE splits a command and the kernel reads
    its command line: double quotes are the kernel's, kept for it
    (``sshkey="ssh-ed25519 AAAA... user@host"``). Read as a shell line, the
    quotes went (the kernel got ``sshkey=ssh-ed25519`` and two stray words)
    and an apostrophe (``it's``) failed every deploy of the node with "No
    closing quotation". Line breaks never reach the iPXE script or
    isolinux.cfg, where they would start a command of their own.
    """
    args = ["ipa-api-url=%s" % api_url(), "ipa-node-uuid=%s" % task.node.uuid]
    if bootif:
        args.append("BOOTIF=%s" % bootif)
    for key, value in (extra or {}).items():
        args.append("%s=%s" % (key, value))
    for more in (CONF.deploy.kernel_append_params,
                 (task.node.driver_info or {}).get("kernel_append_params")):
        if more:
            args.append(more)
    return " ".join(" ".join(args).split())
