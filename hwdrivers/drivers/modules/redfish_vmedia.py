"""Boot interface ``redfish-virtual-media``: the deploy ramdisk as a virtual CD.

No DHCP or TFTP is involved: the conductor builds a per-node deploy ISO
(boot_iso.py: ISOLINUX, the deploy kernel and ramdisk, the agent's kernel
command line), serves it from ``[deploy] http_url``, inserts it into the
system's virtual CD through sushy's VirtualMedia (``InsertMedia``, write
protected) and sets a one-time boot from CD. A node booting UEFI gets an ISO
with the operator's EFI system partition (``bootloader``) as a second, EFI,
boot entry, and a grub.cfg with the same kernel line. Once the image is written,
``prepare_instance`` ejects the media, removes the ISO and sets the disk as
the persistent boot device; the clean-ups eject and remove as well.

The system's VirtualMedia collection is used (``Systems/<id>/VirtualMedia``,
as sushy-tools and recent BMCs serve it), else that of the managers the
system links (``Managers/<id>/VirtualMedia``: iDRAC before 6.0, older iLO and
XCC firmware), as Ironic does. The machine's BMC fetches the ISO, so
``http_url`` must be reachable from the BMC network.
"""

import os

from hwdrivers.common import boot_devices
from hwdrivers.common import exception
from hwdrivers.conf import CONF
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import boot_files
from hwdrivers.drivers.modules import boot_iso
from hwdrivers.drivers.modules import redfish
from hwdrivers.drivers.modules import redfish_session

#: Redfish media types that boot as a CD
CD_TYPES = frozenset({"CD", "DVD"})
#: How a BMC refuses InsertMedia on a device that is not for remote images
#: (one kept for its own console): the next device is tried.
_NOT_FOR_US = frozenset((400, 405))


#: Where a node asks to boot UEFI, which the deploy ISO does only with an EFI
#: system partition (``bootloader``): (what it says, the value read from the
#: node, the values that ask for it).
_UEFI_REQUESTS = (
    ("driver_info redfish_boot_mode is uefi",
     lambda node: (node.driver_info or {}).get("redfish_boot_mode"), {"uefi"}),
    ("properties capabilities boot_mode is uefi",
     lambda node: base.capabilities(node).get("boot_mode"), {"uefi"}),
    ("properties capabilities secure_boot is true",
     lambda node: base.capabilities(node).get("secure_boot"), {"true"}),
)


def _holds_media(media) -> bool:
    """Whether a virtual media device has an image in it (by Inserted, else by Image)."""
    return bool(media.inserted if media.inserted is not None else media.image)


def _eject_checked(system, devices) -> None:
    """Eject ``devices``, then read each again: DriverConnectionError if one still holds.

    sushy passes over a 5xx answer to EjectMedia (it handles 400 and 415
    only), so an eject the BMC failed looked done.
    """
    still = []
    for media in devices:
        media.eject_media()
        media.refresh(force=True)
        if _holds_media(media):
            still.append("%s (%s)" % (media.path, media.image or "inserted"))
    if still:
        raise exception.DriverConnectionError(
            "redfish system %s: ejecting the virtual media left it inserted: %s; "
            "check the BMC, and eject it there if this persists"
            % (system.path, ", ".join(still)))


def _gate(task):
    return getattr(task, "gate", None)


def _ports(task) -> list[dict]:
    return [p for p in (getattr(task, "ports", None) or [])
            if p.get("pxe_enabled", True) is not False]


class RedfishVirtualMediaBoot(redfish._RedfishBase, base.BootInterface):
    """Deploy ramdisk on a virtual CD inserted through the BMC's Redfish service."""

    driver_info_schema = redfish.COMMON_SCHEMA + params.Schema(
        boot_files.DEPLOY_KERNEL, boot_files.DEPLOY_RAMDISK, boot_files.KERNEL_APPEND,
        boot_iso.BOOTLOADER)

    def validate(self, task):
        super().validate(task)
        for field in ("deploy_kernel", "deploy_ramdisk"):
            boot_files.local_file(task, field)
        boot_iso.isolinux_files()
        self._validate_uefi_boot(task)

    @staticmethod
    def _uefi(task) -> list[str]:
        """What on the node asks for a UEFI boot (nothing: BIOS)."""
        return [what for what, read, values in _UEFI_REQUESTS
                if str(read(task.node) or "").strip().lower() in values]

    @classmethod
    def _validate_uefi_boot(cls, task):
        """A node set to boot UEFI needs an EFI system partition for the ISO.

        Without one, firmware in UEFI mode finds nothing to boot on the ISO,
        and the deploy failed only at ``[deploy] callback_timeout``, with
        nothing naming why. With one: the image (when local), mtools and the
        kernel line GRUB must carry are checked now rather than at deploy.
        """
        said = cls._uefi(task)
        if not said:
            return
        ident = getattr(task.node, "ident", None) or task.node.uuid
        if not boot_iso.bootloader(task):
            raise exception.InvalidParameterValue(
                "Node %s: %s, but the deploy ISO of boot_interface redfish-virtual-media "
                "boots UEFI only with an EFI system partition image, and no bootloader is "
                "set; set driver_info bootloader (or [deploy] bootloader) to one (a FAT "
                "image holding EFI/BOOT/BOOTX64.EFI), set the node to boot in bios mode, "
                "or use boot_interface ipxe" % (ident, "; ".join(said)))
        boot_iso.mtools()
        local = boot_iso.bootloader_file(task)
        if local is not None:
            boot_iso.check_esp(task, local)
        appended = " ".join(filter(None, (CONF.deploy.kernel_append_params,
                                          (task.node.driver_info or {}).get(
                                              "kernel_append_params"))))
        try:
            boot_iso.kernel_args(appended)
        except ValueError as exc:
            raise exception.InvalidParameterValue(
                "Node %s: kernel_append_params (driver_info or [deploy]) %s, and this node "
                "boots UEFI through GRUB; remove it" % (ident, exc)) from None

    # -- the virtual CD ------------------------------------------------------------

    @staticmethod
    def _devices(system):
        """The virtual media devices of the system, else of the managers it links.

        A system without a ``VirtualMedia`` link is not an unexpected answer
        to retry: older BMCs list their devices under the Manager only. Only
        the link is looked for so: a device document lacking a field sushy
        needs was taken for a missing link too, and cleaning up ejected nothing.
        """
        missing = redfish_session._sushy().exceptions.MissingAttributeError
        try:
            collection = system.virtual_media
        except missing:
            collection = None
        if collection is not None:
            return list(collection.get_members())
        try:
            managers = system.managers
        except missing:
            return []
        devices = []
        for manager in managers:
            try:
                collection = manager.virtual_media
            except missing:
                continue
            devices.extend(collection.get_members())
        return devices

    def _with_cds(self, task, action, func, needed=True):
        """``func(system, cds)``: the system's (or its BMC's) CD/DVD devices, in order.

        None is an error when one is ``needed`` (inserting), and nothing to do
        otherwise (ejecting).
        """
        with self._system(task, action) as (_entry, system):
            devices = self._devices(system)
            cds = [media for media in devices
                   if {redfish._value(t) for t in (media.media_types or [])} & CD_TYPES]
            if needed and not cds:
                raise exception.DriverUnsupportedAction(
                    "redfish system %s has no virtual CD or DVD, neither under the system "
                    "nor under its managers (virtual media: %s)"
                    % (system.path, ", ".join(m.path for m in devices) or "none"))
            return func(system, cds)

    def _insert(self, task, url):
        """Into the first CD/DVD device that takes it.

        BMCs with several (Cisco UCS, OpenBMC) keep some for their own
        console: those refuse InsertMedia (HTTP 400 or 405, or offer no such
        action), and the next is tried, as Ironic does. Other errors (5xx,
        lost connections) end the attempt, to be retried as a whole.
        """
        sushy = redfish_session._sushy()

        def insert(system, cds):
            refused = []
            for media in cds:
                if media.inserted or media.image:
                    # checked: a CD still holding an old image refuses the new one (400),
                    # which read as 'not for remote images' passed over the CD for good
                    _eject_checked(system, [media])
                try:
                    media.insert_media(url, inserted=True, write_protected=True)
                    return
                except sushy.exceptions.MissingActionError as exc:
                    refused.append("%s: %s" % (media.path, exc))
                except sushy.exceptions.HTTPError as exc:
                    if (exc.status_code not in _NOT_FOR_US
                            or redfish_session.refused_for_now(exc)):
                        raise  # retried as a whole (a BMC in POST refuses for now)
                    refused.append("%s: HTTP %s %s" % (media.path, exc.status_code,
                                                       exc.detail or exc.code))
            raise exception.DriverUnsupportedAction(
                "no virtual CD or DVD of redfish system %s took the deploy ISO: %s"
                % (system.path, "; ".join(refused)))
        self._with_cds(task, "inserting the deploy ISO", insert)

    def _eject(self, task):
        """Every CD/DVD device with media in it; none at all is nothing to eject.

        Cleaning up must not fail where inserting did (a BMC without virtual
        media, or without the licence for it): the node could not be torn down.
        """
        def eject(system, cds):
            _eject_checked(system, [m for m in cds if m.inserted or m.image])
        self._with_cds(task, "ejecting virtual media", eject, needed=False)

    # -- the interface -------------------------------------------------------------

    def prepare_ramdisk(self, task, ramdisk_params):
        ports = _ports(task)
        bootif = "01-%s" % boot_files.hexhyp(ports[0]["address"]) if ports else None
        cmdline = boot_files.kernel_params(task, bootif=bootif,
                                           extra=dict(ramdisk_params or {},
                                                      boot_method="vmedia"))
        boot_iso.build(task, cmdline, uefi=bool(self._uefi(task)))
        url = boot_files.node_url(task, boot_iso.ISO_NAME)
        self._insert(task, url)
        task.logger.info("deploy ISO inserted as virtual CD: %s", url)
        actions.set_boot_device(task, boot_devices.CDROM, persistent=False, gate=_gate(task))

    def _remove(self, task):
        """Eject, and remove the node's ISO even when ejecting fails.

        A BMC gone away when a deploy failed left the ISO (the ramdisk's
        size) in http_root until the node next deployed, or for good.
        """
        try:
            self._eject(task)
        finally:
            boot_files.remove(os.path.join(boot_files.node_dir(task), boot_iso.ISO_NAME))
            boot_files.remove_tree(boot_files.node_dir(task))

    def clean_up_ramdisk(self, task):
        self._remove(task)

    def prepare_instance(self, task):
        self._remove(task)
        actions.set_boot_device(task, boot_devices.DISK, persistent=True, gate=_gate(task))

    def clean_up_instance(self, task):
        self._remove(task)
