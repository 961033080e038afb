"""IPA's ``standby`` extension (and ``log``): the commands a conductor sends.

``standby.prepare_image`` writes the image (see image.py) and then the
config drive (configdrive.py); ``sync`` flushes; ``power_off`` and
``run_image`` hand the machine to an operator-set command (``poweroff``
and ``reboot`` on a ramdisk; the simulator sets its own, or ``exit`` to
end the agent process). ``log.collect_system_logs`` returns the agent's
log as IPA does. The table at the end declares every command.
"""

import logging
import os
import shlex
import subprocess
import threading
from typing import Any

from hwdrivers.agent import checksum
from hwdrivers.agent import commands
from hwdrivers.agent import configdrive as configdrive_mod
from hwdrivers.agent import disk
from hwdrivers.agent import errors
from hwdrivers.agent import fetch
from hwdrivers.agent import image
from hwdrivers.agent import logs

LOG = logging.getLogger(__name__)

#: the value of --power-off-command / --reboot-command that ends the agent process
EXIT = "exit"
#: seconds between answering a power command and acting on it (the answer gets out)
SHUTDOWN_DELAY = 0.5


#: image_info "proxies" keys: the schemes of the URLs the agent fetches
PROXY_SCHEMES = ("http", "https")


def _validate_proxies(image_info: dict) -> None:
    """image_info ``proxies`` and ``no_proxy``, as Ironic sends them (driver_info
    image_http_proxy, image_https_proxy, image_no_proxy)."""
    proxies = image_info.get("proxies") or {}
    if not isinstance(proxies, dict) or not all(
            scheme in PROXY_SCHEMES and isinstance(url, str)
            and url.startswith(("http://", "https://")) for scheme, url in proxies.items()):
        raise errors.InvalidCommandParamsError(
            'image_info proxies must map "http" and/or "https" to a proxy\'s http(s) URL '
            '(driver_info image_http_proxy / image_https_proxy)')
    no_proxy = image_info.get("no_proxy")
    if no_proxy is not None and not isinstance(no_proxy, str):
        raise errors.InvalidCommandParamsError(
            "image_info no_proxy must be a comma-separated string of hosts or domains "
            "(driver_info image_no_proxy)")


class Standby:
    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.partition_uuids: dict | None = None

    # -- helpers -----------------------------------------------------------
    def _http(self) -> fetch.HTTPOptions:
        conf = self.agent.conf
        return fetch.HTTPOptions(timeout=conf.download_timeout, insecure=conf.insecure,
                                 ca_file=conf.ca_file)

    def _write_options(self) -> image.WriteOptions:
        conf = self.agent.conf
        return image.WriteOptions(http=self._http(), allow_md5=self.agent.allow_md5,
                                  retries=conf.download_retries,
                                  retry_interval=conf.download_retry_interval,
                                  tmp_dir=conf.tmp_dir)

    def root_device(self) -> str:
        hints = self.agent.root_device_hints
        if self.agent.conf.root_device and hints:
            LOG.info("root device given as %s; hints %s not used",
                     self.agent.conf.root_device, sorted(hints))
        return disk.resolve(self.agent.conf.root_device, hints)

    # -- standby.prepare_image ---------------------------------------------
    def validate_prepare_image(self, image_info: Any = None, configdrive: Any = None) -> None:
        checksum.validate(image_info, self.agent.allow_md5)
        if image_info.get("image_type", "whole-disk") != "whole-disk":
            raise errors.InvalidCommandParamsError(
                "image_info image_type %r is not supported: the agent writes whole-disk "
                "images only" % image_info.get("image_type"))
        disk_format = image_info.get("disk_format")
        if disk_format is not None and disk_format not in image.SUPPORTED_FORMATS:
            raise errors.InvalidCommandParamsError(
                "image_info disk_format %r is not supported; use %s"
                % (disk_format, " or ".join(image.SUPPORTED_FORMATS)))
        _validate_proxies(image_info)
        drive = configdrive if configdrive is not None else image_info.get("configdrive")
        if drive is not None and (not isinstance(drive, str) or not drive):
            raise errors.InvalidCommandParamsError(
                "configdrive must be a non-empty string (base64 of a gzipped ISO, or an "
                "http(s) URL)")

    def prepare_image(self, image_info: dict, configdrive: str | None = None) -> dict:
        image_info = dict(image_info)
        if configdrive is None:  # IPA's older place for it
            configdrive = image_info.pop("configdrive", None)
        device = self.root_device()
        drive = None
        if configdrive is not None:  # a bad config drive fails before the disk is touched
            drive = configdrive_mod.decode(configdrive, self._http())
        outcome = image.write_image(image_info, device, self._write_options())
        if drive is not None:
            try:
                configdrive_mod.write(device, drive)
            except Exception:
                LOG.error("config drive failed; making %s unbootable", device)
                disk.make_unbootable(device, outcome.bytes_written)
                raise
        root_uuid = disk.disk_identifier(device)
        self.partition_uuids = {"root uuid": root_uuid}
        message = "image (%s) written to device %s root_uuid=%s" % (image_info["id"], device,
                                                                    root_uuid)
        LOG.info(message)
        return {"result": "prepare_image: " + message,
                "image": {"disk_format": outcome.disk_format,
                          "bytes_downloaded": outcome.bytes_downloaded,
                          "seconds": round(outcome.seconds, 3),
                          "attempts": outcome.attempts,
                          outcome.algorithm: outcome.digest},
                "configdrive": drive is not None}

    # -- the rest of standby -----------------------------------------------
    def sync(self) -> None:
        os.sync()

    def get_partition_uuids(self) -> dict:
        return self.partition_uuids or {}

    def _shutdown(self, what: str, command: str) -> str:
        os.sync()
        if command == EXIT:
            LOG.info("%s: the agent process exits", what)
            threading.Timer(SHUTDOWN_DELAY, self.agent.stop, args=(0,)).start()
            return "%s: the agent exits" % what
        argv = shlex.split(command)
        LOG.info("%s: running %s", what, argv[0])
        try:
            proc = subprocess.run(argv, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise errors.SystemRebootError("%s command %s failed: %s" % (what, argv[0], exc))
        if proc.returncode != 0:
            raise errors.SystemRebootError(
                "%s command %s failed with exit code %d: %s"
                % (what, argv[0], proc.returncode, proc.stderr.strip()[-500:]))
        return "%s: %s done" % (what, argv[0])

    def power_off(self) -> str:
        return self._shutdown("power off", self.agent.conf.power_off_command)

    def run_image(self) -> str:
        return self._shutdown("reboot", self.agent.conf.reboot_command)

    def collect_system_logs(self) -> dict:
        ring = self.agent.log_ring
        return {"system_logs": logs.archive({
            "agent.log": ring.text() if ring else "",
        })}

    def table(self) -> commands.Table:
        Command = commands.Command
        return {
            "standby.prepare_image": Command(self.prepare_image, True,
                                             self.validate_prepare_image),
            "standby.sync": Command(self.sync, False),
            "standby.get_partition_uuids": Command(self.get_partition_uuids, False),
            "standby.power_off": Command(self.power_off, True),
            "standby.run_image": Command(self.run_image, True),
            "log.collect_system_logs": Command(self.collect_system_logs, False),
        }
