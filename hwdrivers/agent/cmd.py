"""``hwdrivers-agent``: the deploy ramdisk's agent, started at boot.

On a ramdisk it needs no flags: it reads ``/proc/cmdline``
(``ipa-api-url=... BOOTIF=01-...``) and picks the root disk by the node's
root-device hints. The machine simulator starts it with the kernel command
line its iPXE script carries and a disk image file::

    hwdrivers-agent --kernel-cmdline-file cmdline.txt --mac 52:54:00:12:34:56 \\
        --listen-host 127.0.0.1 --listen-port 0 --root-device disk.img \\
        --power-off-command exit

Exit status: 0 when stopped (``exit`` power command, SIGTERM), 1 when the
node was never found, 2 for bad arguments.
"""

import argparse
import json
import logging
import os
import signal
import sys

from hwdrivers.agent import __version__
from hwdrivers.agent import config as agent_config
from hwdrivers.agent import logs

LOG = logging.getLogger("hwdrivers.agent")

DEFAULT_CMDLINE_FILE = "/proc/cmdline"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwdrivers-agent", description=__doc__.split("\n")[0],
        epilog="Flags win over the kernel command line's ipa-* arguments. See doc/agent.md.")
    add = parser.add_argument
    add("--version", action="version", version=__version__)
    add("--kernel-cmdline", metavar="TEXT",
        help="a kernel command line to read ipa-api-url, BOOTIF... from (no secrets: use "
             "--kernel-cmdline-file for ipa-agent-token)")
    add("--kernel-cmdline-file", metavar="PATH",
        help="a file holding the kernel command line (default %s when neither this, "
             "--kernel-cmdline nor --api-url is given)" % DEFAULT_CMDLINE_FILE)
    add("--api-url", action="append", dest="api_urls", metavar="URL",
        help="the conductor's API (ipa-api-url); repeat or comma-separate for several")
    add("--mac", action="append", dest="macs", metavar="MAC",
        help="a MAC address to look the node up with (repeatable; BOOTIF adds one)")
    add("--listen-host", help="address the agent API listens on (default 0.0.0.0)")
    add("--listen-port", type=int, help="port of the agent API (default 9999; 0 = any)")
    add("--advertise-host", help="host in the callback_url (default: the local address "
                                 "that routes to the API)")
    add("--advertise-port", type=int, help="port in the callback_url (default: the bound "
                                           "port)")
    add("--root-device", metavar="PATH",
        help="the disk to write: a block device or a disk image file (default: chosen by "
             "root device hints from lsblk)")
    add("--root-device-hints", metavar="JSON", type=json.loads,
        help='root device hints, e.g. \'{"size": ">= 100", "serial": "S1"}\' (default: '
             "the node's properties.root_device from lookup)")
    add("--lookup-timeout", type=float, help="seconds to keep trying lookup (default 600)")
    add("--lookup-interval", type=float, help="first lookup retry interval (default 1)")
    add("--min-heartbeat-interval", type=float,
        help="least seconds between two heartbeats, and the retry delay (default 5)")
    add("--insecure", action="store_true", default=None,
        help="do not verify TLS certificates of image servers")
    add("--ca-file", help="CA bundle for https image servers")
    add("--allow-md5", action="store_true", default=None,
        help="accept a legacy MD5 'checksum' in image_info")
    add("--download-retries", type=int,
        help="further attempts after a broken image download (default 3)")
    add("--download-retry-interval", type=float, help="seconds between attempts (default 5)")
    add("--download-timeout", type=float, help="socket timeout of downloads (default 60)")
    add("--tmp-dir", help="where a qcow2 image is staged before qemu-img converts it")
    add("--power-off-command", help="what standby.power_off runs (default 'poweroff'; "
                                    "'exit' ends the agent process)")
    add("--reboot-command", help="what standby.run_image runs (default 'reboot'; 'exit' "
                                 "ends the agent process)")
    add("--inspection-callback-url", metavar="URL",
        help="post the machine's inventory there before lookup "
             "(ipa-inspection-callback-url; see doc/inspection.md)")
    add("--nic", action="append", dest="nics", metavar="NAME=MAC",
        help="a network interface to report in the inventory instead of this host's "
             "(repeatable; the machine simulator gives its MACs)")
    add("--disk", action="append", dest="disks", metavar="PATH",
        help="a disk (block device or image file) to report in the inventory instead of "
             "lsblk's (repeatable)")
    add("--debug", action="store_true", default=None)
    return parser




def make_config(args: argparse.Namespace) -> agent_config.AgentConfig:
    """AgentConfig from defaults, then the kernel command line, then flags."""
    values: dict = {}
    if args.kernel_cmdline:
        secrets = agent_config.secret_args_in(args.kernel_cmdline)
        if secrets:
            raise ValueError("%s must not be passed in --kernel-cmdline (it would show in "
                             "the process list): put the command line in a file and use "
                             "--kernel-cmdline-file" % ", ".join(secrets))
        values.update(agent_config.parse_kernel_cmdline(args.kernel_cmdline))
    cmdline_file = args.kernel_cmdline_file
    if cmdline_file is None and not args.kernel_cmdline and not args.api_urls:
        cmdline_file = DEFAULT_CMDLINE_FILE
    if cmdline_file:
        try:
            with open(cmdline_file) as handle:
                values.update(agent_config.parse_kernel_cmdline(handle.read()))
        except OSError as exc:
            raise ValueError("--kernel-cmdline-file %s: %s" % (cmdline_file, exc.strerror))
    fields = {f.name for f in agent_config.AgentConfig.__dataclass_fields__.values()}
    for dest, value in vars(args).items():
        if value is None or dest not in fields:
            continue
        if dest == "api_urls":
            value = [u for item in value for u in item.split(",") if u.strip()]
        if dest == "macs":
            value = [agent_config.normalise_mac(m) for m in value] + values.get("macs", [])
        if dest == "nics":
            value = [agent_config.parse_nic(n) for n in value]
        values[dest] = value
    conf = agent_config.AgentConfig(**values)
    agent_config.check_bounds(conf)
    if not conf.api_urls:
        raise ValueError("no API URL: give --api-url or ipa-api-url= on the kernel command "
                         "line")
    for url in [*conf.api_urls, *filter(None, [conf.inspection_callback_url])]:
        if not url.lower().startswith(("http://", "https://")):
            # retried as a connection error, it failed lookup only after lookup_timeout
            raise ValueError("%r is not an http(s) URL (--api-url / ipa-api-url, "
                             "--inspection-callback-url): write it as http://10.0.0.1:6385"
                             % url[:100])
    if not conf.macs:
        raise ValueError("no MAC address to look up with: give --mac or BOOTIF= on the "
                         "kernel command line")
    if not isinstance(conf.root_device_hints, dict):
        raise ValueError("--root-device-hints must be a JSON object")
    if conf.root_device and not os.path.exists(conf.root_device):
        raise ValueError("--root-device %s does not exist" % conf.root_device)
    for path in conf.disks:
        if not os.path.exists(path):
            raise ValueError("--disk %s does not exist" % path)
    return conf


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        conf = make_config(args)
    except ValueError as exc:
        parser.print_usage(sys.stderr)
        print("hwdrivers-agent: error: %s" % exc, file=sys.stderr)
        return 2
    ring = logs.setup(conf.debug)
    from hwdrivers.agent import agent as agent_mod  # after logging is set up

    agent = agent_mod.Agent(conf, ring)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop(0))
    return agent.run()


if __name__ == "__main__":
    sys.exit(main())
