"""Boot devices, with Ironic's names."""

__all__ = [
    "PXE", "DISK", "CDROM", "BIOS", "SAFE", "WANBOOT", "ISCSIBOOT", "FLOPPY",
    "UEFIHTTP", "ALL", "COMMON",
]

PXE = "pxe"
DISK = "disk"
CDROM = "cdrom"
BIOS = "bios"
SAFE = "safe"
WANBOOT = "wanboot"
ISCSIBOOT = "iscsiboot"
FLOPPY = "floppy"
UEFIHTTP = "uefi-http"

#: Every device the framework knows; drivers support a subset.
ALL = (PXE, DISK, CDROM, BIOS, SAFE, WANBOOT, ISCSIBOOT, FLOPPY, UEFIHTTP)

#: The devices almost every BMC can set.
COMMON = (PXE, DISK, CDROM, BIOS, SAFE)
