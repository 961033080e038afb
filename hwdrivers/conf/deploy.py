"""[deploy]: putting images on machines (boot files, agent callbacks, timeouts)."""

from oslo_config import cfg

from hwdrivers.conf import finite

group = cfg.OptGroup("deploy", help="Deploying images: the iPXE and virtual-media boot "
                                    "files, the ramdisk agent's callbacks and their "
                                    "timeouts.")

opts = [
    cfg.StrOpt("http_url",
               help="Base URL machines fetch boot files from (boot.ipxe, per-node iPXE "
                    "scripts, virtual-media ISOs), e.g. http://10.0.0.1:6385/boot. "
                    "Unset: the API's own /boot/ route on [api] host and port, which "
                    "serves http_root."),
    cfg.StrOpt("http_root",
               help="Directory the boot files are written to and served from. Unset: "
                    "$state_path/httpboot."),
    cfg.StrOpt("api_url",
               help="The API URL deploy ramdisks call back (ipa-api-url on their kernel "
                    "command line). Unset: http://[api] host:[api] port (a wildcard "
                    "host is an error: set this to an address machines can reach)."),
    cfg.StrOpt("kernel_append_params", default="nofb nomodeset vga=normal",
               help="Extra kernel command line arguments for the deploy ramdisk "
                    "(console=ttyS0,115200n8 for a serial console...)."),
    cfg.IntOpt("callback_timeout", default=1800, min=1,
               help="Seconds a node may wait in 'wait call-back' without a heartbeat "
                    "from its agent (booting the ramdisk included) before the deploy "
                    "fails and the node is powered off."),
    cfg.IntOpt("image_download_timeout", default=3600, min=1,
               help="Seconds the agent's write_image step (download, verify, write) may "
                    "take before the deploy fails and the node is powered off."),
    cfg.IntOpt("heartbeat_timeout", default=300, min=2,
               help="Told to agents at lookup: they heartbeat every 0.3-0.6 of it. "
                    "Lower it for faster deploys at the cost of more API calls."),
    finite.FloatOpt("check_timeouts_interval", default=60.0, min=0,
                    help="Seconds between two checks for deploys past callback_timeout or "
                         "image_download_timeout (0: never check)."),
    cfg.IntOpt("power_off_wait", default=60, min=1,
               help="Seconds to wait for a machine to power off after its agent was "
                    "told to, before it is powered off through its BMC."),
    cfg.ListOpt("local_file_allowed_paths", default=[],
                help="Directories a deploy_kernel or deploy_ramdisk given as a local path "
                     "(or file:// URL) may be in. Such files are served to machines "
                     "without authentication, so an API user must not be able to name "
                     "any file the service can read; empty (the default): only http(s) "
                     "URLs are accepted."),
    cfg.IntOpt("boot_file_cache_ttl", default=86400, min=0,
               help="Seconds a deploy kernel, ramdisk or EFI image downloaded "
                    "for a virtual-media ISO stays in <state_path>/boot_cache "
                    "unused. Each URL is downloaded once and checked again on "
                    "each use with a conditional request (ETag, Last-Modified), "
                    "so a file replaced behind its URL is fetched anew; a "
                    "server sending neither is downloaded every time. 0: no "
                    "cache, a download per ISO build."),
    cfg.IntOpt("boot_file_cache_size", default=10240, min=0,
               help="MiB the boot file cache may hold; past it, the least "
                    "recently used files go (never one a build is using). "
                    "0: no limit but boot_file_cache_ttl."),
    cfg.StrOpt("isolinux_bin", default="/usr/lib/ISOLINUX/isolinux.bin",
               help="ISOLINUX's boot loader, put in the deploy ISOs that "
                    "redfish-virtual-media builds (Debian package isolinux)."),
    cfg.StrOpt("ldlinux_c32", default="/usr/lib/syslinux/modules/bios/ldlinux.c32",
               help="ISOLINUX's ldlinux.c32 module, put next to isolinux.bin in the deploy "
                    "ISOs (Debian package syslinux-common)."),
    cfg.StrOpt("bootloader",
               help="The EFI system partition image (a FAT image holding "
                    "EFI/BOOT/BOOTX64.EFI: shim or GRUB, signed for Secure Boot) that "
                    "redfish-virtual-media puts in the deploy ISOs of nodes booting UEFI, "
                    "as Ironic's [conductor] bootloader: an http(s) URL or a path on the "
                    "conductor. A node's driver_info bootloader overrides it. Unset (the "
                    "default) and no driver_info bootloader: UEFI nodes are refused at "
                    "validation. Used as given, only EFI/BOOT/grub.cfg added (mtools)."),
    finite.FloatOpt("agent_request_timeout", default=60.0, min=1,
                    help="Seconds one HTTP request to a ramdisk agent may take."),
    finite.FloatOpt("image_check_timeout", default=10.0, min=0, max=300,
                    help="Seconds the conductor waits for the answer to a HEAD request "
                         "to an http(s) image_source when a deploy starts, before the "
                         "machine is power-cycled. A 401, 403, 404 or 410 fails the "
                         "deploy at once; no answer, or any other, leaves the image to "
                         "the agent. 0: no check."),
    cfg.BoolOpt("inspection_require_managed_boot", default=True,
                help="In-band (agent) inspection needs a boot interface that boots the "
                     "deploy ramdisk (ipxe, redfish-virtual-media); a node whose boot "
                     "interface boots nothing (noop) is refused at validation. False: "
                     "such a node is inspected unmanaged, as with Ironic's [inspector] "
                     "require_managed_boot = false: it is powered on with a one-time "
                     "network boot and something outside hwdrivers (a PXE server, a "
                     "person) must boot the ramdisk, which has [deploy] callback_timeout "
                     "to post its inventory."),
]


def register_opts(conf):
    conf.register_group(group)
    conf.register_opts(opts, group=group)
