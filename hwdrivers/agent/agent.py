"""The agent's life: look up its node, serve commands, heartbeat until told to stop.

Lookup is retried with randomised exponential backoff (from
``lookup_interval`` up to ``lookup_max_interval``) until it succeeds or
``lookup_timeout`` passes; then the agent exits non-zero, as IPA does. The
lookup's ``config`` gives the one-time ``agent_token`` (IPA answers
``******`` to a second lookup; an agent that never had the token cannot
serve and exits), the ``heartbeat_timeout`` (the heartbeat interval is a
random 0.3-0.6 of it) and ``agent_md5_checksum_enable``. The node's
``instance_info.root_device`` (else ``properties.root_device``) are the
root device hints unless the command line gives its own. A heartbeat is
also sent soon after an asynchronous command finishes, so the conductor
does not wait a whole interval.
"""

import hmac
import json
import logging
import random
import socket
import threading
import time
from urllib import parse

from hwdrivers.agent import __version__
from hwdrivers.agent import api_client
from hwdrivers.agent import commands
from hwdrivers.agent import config as agent_config
from hwdrivers.agent import errors
from hwdrivers.agent import inventory
from hwdrivers.agent import server
from hwdrivers.agent import standby

LOG = logging.getLogger(__name__)

HEARTBEAT_JITTER = (0.3, 0.6)
#: after a failed heartbeat: 1-2 x min_heartbeat_interval, as IPA (never sooner than
#: the least interval between two heartbeats, spread so a fleet does not retry at once)
ERROR_JITTER = (1.0, 2.0)
MIN_TOKEN_LENGTH = 32
#: where lookup's node carries root device hints, first wins (as IPA reads them):
#: a deploy's own instance_info.root_device over the node's properties
HINT_FIELDS = ("instance_info", "properties")


class Agent:
    def __init__(self, conf: agent_config.AgentConfig, log_ring=None) -> None:
        self.conf = conf
        self.log_ring = log_ring
        self.version = __version__
        self.started_at: float | None = None
        self.node: dict | None = None
        self.agent_token: str | None = conf.agent_token
        self.heartbeat_timeout: float = 300.0
        self.allow_md5 = conf.allow_md5
        self.root_device_hints = dict(conf.root_device_hints)
        self.exit_code = 0
        self._stop = threading.Event()
        self._force = threading.Event()
        self.client = api_client.APIClient(conf.api_urls, timeout=conf.http_timeout,
                                           pinned_version=conf.pinned_version(),
                                           request_id=conf.request_id)
        self.standby = standby.Standby(self)
        self.executor = commands.Executor(self.standby.table(), on_finished=self._force.set)
        self.api = server.APIServer(self, conf.listen_host, conf.listen_port)
        self.callback_url: str | None = None

    # -- token -------------------------------------------------------------
    def validate_token(self, token: str | None) -> bool:
        if not token or not self.agent_token:
            return False
        return hmac.compare_digest(token.encode(), self.agent_token.encode())

    def status(self) -> dict:
        return {"started_at": self.started_at, "version": self.version}

    # -- inspection ----------------------------------------------------------
    def inspect(self) -> None:
        """Post the inventory to the inspection callback (before lookup, as IPA)."""
        url = self.conf.inspection_callback_url
        if self.conf.node_uuid and "node_uuid=" not in url:
            # the boot script named the node: no need to find it by MAC (Ironic 1.88)
            url += "%snode_uuid=%s" % ("&" if "?" in url else "?", self.conf.node_uuid)
        data = inventory.collect(nics=self.conf.nics, disk_paths=self.conf.disks,
                                 pxe_mac=self.conf.macs[0] if self.conf.macs else None)
        LOG.info("inspection: posting %d interface(s), %d disk(s) to %s%s",
                 len(data["inventory"].get("interfaces") or ()),
                 len(data["inventory"].get("disks") or ()), url,
                 "; not collected: %s" % data["error"] if data["error"] else "")
        try:
            answer = inventory.post(url, data, timeout=self.conf.http_timeout,
                                    sleep=self._stop.wait)
        except errors.InspectionError as exc:
            LOG.error("%s", exc)
            return
        if answer is not None:
            LOG.info("inspection data accepted for node %s", answer.get("uuid"))

    # -- lookup ------------------------------------------------------------
    def lookup(self) -> dict:
        deadline = time.monotonic() + self.conf.lookup_timeout
        interval = self.conf.lookup_interval
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            content = self.client.lookup(self.conf.macs, self.conf.node_uuid)
            if content is not None:
                return content
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sleep = min(remaining, random.uniform(self.conf.lookup_interval, interval))
            self._stop.wait(sleep)
            interval = min(interval * 2, self.conf.lookup_max_interval)
        raise errors.LookupNodeError(
            "no node found for addresses %s at %s after %d attempt(s) in %ss"
            % (",".join(self.conf.macs), ", ".join(self.client.api_urls), attempt,
               self.conf.lookup_timeout))

    def process_lookup(self, content: dict) -> None:
        self.node = content["node"]
        cfg = content.get("config") or {}
        self.heartbeat_timeout = float(cfg.get("heartbeat_timeout") or 300)
        if cfg.get("agent_md5_checksum_enable") is not None:
            self.allow_md5 = bool(cfg["agent_md5_checksum_enable"])
        where, hints = next(((field, found) for field in HINT_FIELDS
                             if (found := (self.node.get(field) or {}).get("root_device"))),
                            (None, None))
        if hints and not self.conf.root_device_hints:
            self.root_device_hints = dict(hints)
            LOG.info("root device hints from %s.root_device: %s", where,
                     json.dumps(hints, sort_keys=True))
        token = cfg.get("agent_token")
        if token and token != "******" and len(token) >= MIN_TOKEN_LENGTH:
            self.agent_token = token
        elif token == "******":
            LOG.warning("the agent token was already handed out by an earlier lookup")
        elif token:
            LOG.warning("ignoring an agent token shorter than %d characters",
                        MIN_TOKEN_LENGTH)
        if not self.agent_token:
            raise errors.LookupNodeError(
                "node %s: lookup gave no agent token and none was on the kernel command "
                "line; the agent cannot accept commands" % self.node.get("uuid"))
        LOG.info("lookup succeeded: node %s, heartbeat_timeout %ss", self.node["uuid"],
                 self.heartbeat_timeout)

    # -- heartbeat ---------------------------------------------------------
    def _advertise_host(self) -> str:
        if self.conf.advertise_host:
            return self.conf.advertise_host
        target = parse.urlparse(self.client.api_urls[0])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((target.hostname, target.port or 80))  # no packet is sent
            return probe.getsockname()[0]

    def heartbeat_loop(self) -> None:
        """Heartbeat every 0.3-0.6 x heartbeat_timeout; sooner when forced.

        A forced heartbeat (a command finished) still waits until
        ``min_heartbeat_interval`` has passed since the previous one.
        """
        interval = 0.0
        previous = -float("inf")
        while not self._stop.is_set():
            now = time.monotonic()
            forced = self._force.is_set()
            due_at = previous + interval
            if forced:
                due_at = min(due_at, previous + self.conf.min_heartbeat_interval)
            if now < due_at:
                # sleep until due; an unforced sleep wakes early when forced
                waiter = self._stop if forced else self._force
                waiter.wait(max(0.05, due_at - now))
                continue
            self._force.clear()
            try:
                self.client.heartbeat(self.node["uuid"], self.callback_url, self.agent_token)
            except errors.HeartbeatError as exc:
                LOG.warning("heartbeat failed: %s", exc)
                interval = self.conf.min_heartbeat_interval * random.uniform(*ERROR_JITTER)
            else:
                LOG.debug("heartbeat accepted")
                interval = self.heartbeat_timeout * random.uniform(*HEARTBEAT_JITTER)
            previous = time.monotonic()

    # -- life --------------------------------------------------------------
    def stop(self, code: int = 0) -> None:
        self.exit_code = code
        self._stop.set()
        self._force.set()

    def run(self) -> int:
        self.started_at = time.time()
        if self.conf.inspection_callback_url:
            self.inspect()
        LOG.info("hwdrivers-agent %s starting; looking up %s at %s", self.version,
                 ",".join(self.conf.macs), ", ".join(self.client.api_urls))
        try:
            content = self.lookup()
            self.process_lookup(content)
        except errors.LookupNodeError as exc:
            if self._stop.is_set():  # SIGTERM while looking up
                return self.exit_code
            LOG.error("%s", exc)
            return 1
        try:
            host = self._advertise_host()
        except OSError as exc:
            LOG.error("cannot tell which local address reaches %s (%s): give "
                      "--advertise-host", self.client.api_urls[0], exc)
            return 1
        self.api.start()
        port = self.conf.advertise_port or self.api.port
        self.callback_url = "http://%s:%d" % (host, port)
        LOG.info("serving the agent API on %s:%d, advertised as %s", self.conf.listen_host,
                 self.api.port, self.callback_url)
        beat = threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True)
        beat.start()
        try:
            while not self._stop.wait(0.1):
                pass
        except KeyboardInterrupt:
            LOG.info("interrupted")
        finally:
            self.api.stop()
        LOG.info("agent stopped (exit %d)", self.exit_code)
        return self.exit_code
