"""Boot interface ``ipxe``: boot the deploy ramdisk over HTTP with iPXE.

DHCP and TFTP stay with dnsmasq (doc/provisioning.md has the config): it
hands iPXE-capable clients ``<http_url>/boot.ipxe``. That script chains to
``pxelinux.cfg/<mac with hyphens>`` (``${mac:hexhyp}``), a per-MAC copy of
the node's script, which loads ``deploy_kernel`` and ``deploy_ramdisk``
with the agent's kernel command line. A MAC with no script exits iPXE, so
the firmware goes on to its next boot device (the disk).

``prepare_ramdisk`` writes the scripts for each of the node's ports and
sets the next boot to the network; ``prepare_instance`` sets the disk as
the persistent boot device and removes the scripts; the clean-ups remove
every file of the node. The MACs a script was written for are recorded in
the node's directory (``macs``), so the clean-ups remove those scripts even
when the port was deleted or its MAC corrected meanwhile; a script another
node has since written for that MAC is left alone.
"""

import os

from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import boot_files

BOOT_SCRIPT = """#!ipxe
# hwdrivers: chain to this machine's own script, named by its MAC address.
chain --autofree {http_url}/pxelinux.cfg/${{mac:hexhyp}} || goto no_config

:no_config
echo No deploy script for ${{mac}}: booting the next device.
exit
"""

NODE_SCRIPT = """#!ipxe
# hwdrivers: deploy ramdisk of node {uuid}
set attempts:int32 0

:deploy
imgfree
kernel --name deploy_kernel {kernel} {params} initrd=deploy_ramdisk || goto retry
initrd --name deploy_ramdisk {ramdisk} || goto retry
boot

:retry
iseq ${{attempts}} 10 && goto give_up ||
inc attempts
echo Fetching the deploy kernel or ramdisk failed; retrying in 10 seconds.
sleep 10
goto deploy

:give_up
echo Could not fetch the deploy ramdisk of node {uuid}; booting the next device.
exit
"""


#: The node's record of the MACs it wrote a script for (one per line).
MACS_FILE = "macs"


def mac_path(mac: str) -> str:
    return os.path.join(boot_files.http_root(), "pxelinux.cfg", boot_files.hexhyp(mac))


def _recorded_macs(uuid: str) -> list[str]:
    try:
        with open(os.path.join(boot_files.http_root(), uuid, MACS_FILE)) as handle:
            return handle.read().split()
    except FileNotFoundError:
        return []


def _remove_own_script(uuid: str, mac: str) -> None:
    """Remove the script of ``mac`` if it is node ``uuid``'s (the MAC may have moved on)."""
    path = mac_path(mac)
    try:
        with open(path) as handle:
            head = handle.read(512)
    except FileNotFoundError:
        return
    if NODE_SCRIPT.splitlines()[1].format(uuid=uuid) in head.splitlines():
        boot_files.remove(path)


def remove_node_files(uuid: str) -> None:
    """Every boot file of node ``uuid``: the per-MAC scripts it recorded, its directory.

    For a node deleted (in maintenance, mid-deploy): its ports are gone with
    it, and without this its script went on booting that machine into the
    deleted node's ramdisk, and its directory (a deploy ISO: the ramdisk's
    size) stayed in http_root for good.
    """
    if not uuid or "/" in uuid or uuid in (".", ".."):
        return  # never http_root itself, nor anything outside it
    for mac in _recorded_macs(uuid):
        _remove_own_script(uuid, mac)
    boot_files.remove_tree(os.path.join(boot_files.http_root(), uuid))


def write_boot_script() -> str:
    """(Re)write ``boot.ipxe`` under http_root unless it already says this; returns its path.

    Called for every machine that fetches it: rewritten each time, a rack
    powered on at once meant a file written per request, and with
    http_root's disk full (deploy ISOs) every machine got a 500 for a file
    that was there and right.
    """
    path = os.path.join(boot_files.http_root(), "boot.ipxe")
    text = BOOT_SCRIPT.format(http_url=boot_files.http_url())
    try:
        with open(path) as handle:
            if handle.read(len(text) + 1) == text:
                return path
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    boot_files.write_file(path, text)
    return path


def _ports(task) -> list[dict]:
    ports = getattr(task, "ports", None)
    if ports is None:
        return []
    return [p for p in ports if p.get("pxe_enabled", True) is not False]


def _gate(task):
    return getattr(task, "gate", None)


class IPXEBoot(base.BootInterface):
    """Deploy ramdisk over iPXE (HTTP); the instance boots from its disk."""

    driver_info_schema = params.Schema(boot_files.DEPLOY_KERNEL, boot_files.DEPLOY_RAMDISK,
                                       boot_files.KERNEL_APPEND)

    def validate(self, task):
        super().validate(task)
        for field in ("deploy_kernel", "deploy_ramdisk"):
            boot_files.local_file(task, field)
        if getattr(task, "ports", None) is not None and not _ports(task):
            raise exception.MissingParameterValue(
                "Node %s: the ipxe boot interface needs a port with the MAC address the "
                "machine boots from; create one (POST /v1/ports, or 'baremetal port "
                "create <mac> --node %s')" % (task.node.ident, task.node.uuid))
        management = task.driver.management
        supported = management.get_supported_boot_devices(task)
        if supported and boot_devices.PXE not in supported:
            raise exception.InvalidParameterValue(
                "Node %s: its management interface (%s) cannot set the boot device to "
                "pxe, which ipxe needs" % (task.node.ident, management.implementation_name))

    def prepare_ramdisk(self, task, ramdisk_params):
        ports = _ports(task)
        if not ports:
            raise exception.DriverSettingsError(
                "the ipxe boot interface needs a port with the MAC address the machine "
                "boots from", node=task.node.ident)
        write_boot_script()
        kernel = boot_files.published_url(task, "deploy_kernel")
        ramdisk = boot_files.published_url(task, "deploy_ramdisk")
        script = NODE_SCRIPT.format(
            uuid=task.node.uuid, kernel=kernel, ramdisk=ramdisk,
            params=boot_files.kernel_params(task, bootif="01-${mac:hexhyp}",
                                            extra=ramdisk_params))
        macs = [boot_files.hexhyp(p["address"]) for p in ports]
        for mac in set(_recorded_macs(task.node.uuid)) - set(macs):  # ports changed
            _remove_own_script(task.node.uuid, mac)
        boot_files.write_file(os.path.join(boot_files.node_dir(task), "config"), script)
        # recorded first: a script is never written without the record to remove it by
        boot_files.write_file(os.path.join(boot_files.node_dir(task), MACS_FILE),
                              "".join(m + "\n" for m in macs))
        for mac in macs:
            boot_files.write_file(mac_path(mac), script)
        task.logger.info("iPXE scripts written for %s", ", ".join(
            p["address"] for p in ports))
        actions.set_boot_device(task, boot_devices.PXE, persistent=False, gate=_gate(task))

    def _remove_scripts(self, task):
        for mac in set(_recorded_macs(task.node.uuid)) | {boot_files.hexhyp(p["address"])
                                                           for p in _ports(task)}:
            _remove_own_script(task.node.uuid, mac)
        boot_files.remove_tree(boot_files.node_dir(task))

    def clean_up_ramdisk(self, task):
        self._remove_scripts(task)

    def prepare_instance(self, task):
        self._remove_scripts(task)
        actions.set_boot_device(task, boot_devices.DISK, persistent=True, gate=_gate(task))

    def clean_up_instance(self, task):
        self._remove_scripts(task)
