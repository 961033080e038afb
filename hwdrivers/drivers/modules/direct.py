"""Deploy interface ``direct``: the ramdisk agent writes the image itself.

Ironic's deploy steps, with its names and priorities; the conductor runs
them highest first (conductor/deployments.py) and waits in ``wait
call-back`` when a step returns it, with the node's lock released:

=====  ======================  ============================================
 100   deploy                  power off, boot.prepare_ramdisk, power on;
                               wait for the agent's lookup and heartbeat
  80   write_image             ``standby.prepare_image`` (image_info,
                               configdrive); wait for the command to end
  60   prepare_instance_boot   boot.prepare_instance (boot from disk)
  40   tear_down_agent         ``standby.power_off``; power off through the
                               BMC if the machine is not off in time
  20   boot_instance           power on
=====  ======================  ============================================

``instance_info``: ``image_source`` (http(s) URL), ``image_os_hash_algo``
and ``image_os_hash_value`` (or the legacy ``image_checksum``; either may
be a checksum file's URL), ``image_disk_format`` (raw, qcow2),
``image_type`` (whole-disk only), ``root_gb``. :meth:`validate` checks them, and the boot interface,
without touching the hardware.
"""

import time
import urllib.parse


from hwdrivers.common import exception
from hwdrivers.common import log_text
from hwdrivers.common.states import PowerState
from hwdrivers.common.states import ProvisionState
from hwdrivers.conf import CONF
from hwdrivers.drivers import actions
from hwdrivers.drivers import base
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import agent_client
from hwdrivers.drivers.modules import boot_files
from hwdrivers.drivers.modules import image_check


DISK_FORMATS = ("raw", "qcow2")
HASH_ALGORITHMS = ("sha256", "sha384", "sha512")
#: driver_internal_info keys the agent side of a deploy uses (cleared after it)
AGENT_KEYS = ("agent_url", "agent_secret_token", "agent_last_heartbeat", "agent_version",
              "agent_command", "agent_verify_ca")


def _is_url(value: object) -> bool:
    """An http(s) URL the agent can fetch: a host, a valid port, nothing it cannot parse.

    Caught here, before the node is touched: found by the agent, a URL
    such as ``http://`` or ``http://[::1`` cost a power cycle and a ramdisk
    boot before the deploy failed.
    """
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        return False
    return bool(parts.hostname)


def _shown(value: object) -> str:
    """``value`` as an error quotes it: a URL without its credentials or query.

    These errors reach the API's 400, ``last_error`` and the logs; a
    refused URL (wrong scheme, bad port) may still carry ``user:password@``
    or a temporary URL's signature, which must appear in none of them.
    """
    if not isinstance(value, str):
        return repr(value)
    if "://" not in value:
        return log_text.cut(repr(value), 80)
    from hwdrivers.agent import fetch  # the agent's redaction, as image_check uses
    try:
        return repr(fetch.redact(value))
    except ValueError:  # not even parsable: say so, quote nothing
        return "(an unparsable URL)"


def _proxy_url(value: str) -> None:
    """A proxy the agent can use: an http(s) URL with a host (the agent refuses others).

    Ironic also takes a proxy without a scheme (``proxy:3128``); the agent
    would refuse it after a power cycle and a ramdisk boot, so it is
    refused here, naming the fix.
    """
    if not _is_url(value):
        raise ValueError("must be a proxy's http(s) URL with a host, such as "
                         "http://proxy.example:3128 (add the http:// a bare host:port lacks)")


def _no_proxy(value: str) -> None:
    if any(c.isspace() for c in value.replace(", ", ",")) or not value.strip(", "):
        raise ValueError("must be comma-separated host names, addresses or .domains "
                         "(with an optional :port), such as .example.com,10.0.0.5")


#: Ironic's driver_info fields of the direct deploy for the agent's image download.
#: Secret: a proxy URL may carry user:password@ (the agent sends them as
#: Proxy-Authorization and never logs them); every output masks it.
IMAGE_HTTP_PROXY = params.Param(
    "image_http_proxy", "Proxy the deploy ramdisk's agent downloads http:// images (and "
    "checksum files) through: an http(s) URL, credentials allowed", secret=True,
    check=_proxy_url)
IMAGE_HTTPS_PROXY = params.Param(
    "image_https_proxy", "Proxy the deploy ramdisk's agent downloads https:// images (and "
    "checksum files) through: an http(s) URL, credentials allowed", secret=True,
    check=_proxy_url)
IMAGE_NO_PROXY = params.Param(
    "image_no_proxy", "Comma-separated host names, addresses and .domains (with an "
    "optional :port) the agent reaches directly, not through image_http_proxy or "
    "image_https_proxy. Ignored without either", check=_no_proxy)


#: hex digest length -> algorithm (what a legacy image_checksum's length names)
_DIGEST_LENGTHS = {64: "sha256", 96: "sha384", 128: "sha512"}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _digest_errors(field: str, value: object, algo: str | None) -> list[str]:
    """What is wrong with a checksum value the agent would refuse or never match.

    Checked here because the agent finds it only after the node was powered
    on and its ramdisk booted: an MD5 (the conductor tells every agent MD5
    is off), a value that is not hex, or a digest whose length does not fit
    the algorithm. A checksum file's URL is left to the agent to read.
    """
    if isinstance(value, str) and _is_url(value):
        return []
    if not isinstance(value, str) or not value or not set(value) <= _HEX_DIGITS:
        return ["instance_info %s %s is neither a hex digest nor the http(s) URL of a "
                "checksum file" % (field, _shown(value))]
    if algo is None and len(value) == 32:
        return ["instance_info %s is an MD5 digest, and MD5 is refused: set "
                "image_os_hash_algo (sha256) and image_os_hash_value instead" % field]
    named = _DIGEST_LENGTHS.get(len(value))
    if algo is None and named is None:
        return ["instance_info %s has %d hex digits, which names no algorithm (64: sha256, "
                "96: sha384, 128: sha512)" % (field, len(value))]
    if algo is not None and named != algo:
        return ["instance_info %s has %d hex digits; a %s digest has %d (is "
                "image_os_hash_algo right?)" % (
                    field, len(value), algo,
                    next(n for n, a in _DIGEST_LENGTHS.items() if a == algo))]
    return []


def _algorithm(algo: object) -> object:
    """``image_os_hash_algo`` as the agent gets it: "SHA256" is sha256.

    Ironic's own checksum check lowercases the algorithm; refusing a value
    typed in capitals, after which no algorithm could be meant, helped no one.
    """
    return algo.strip().lower() if isinstance(algo, str) else algo


def instance_info_errors(info: dict) -> list[str]:
    """Every problem with a node's instance_info for a direct deploy."""
    errors = []
    source = info.get("image_source")
    if not source:
        errors.append("instance_info image_source is missing: set it to the image's "
                      "http(s) URL (PATCH /v1/nodes/<node> add /instance_info/image_source)")
    elif not _is_url(source):
        errors.append("instance_info image_source %s is not an http(s) URL with a host "
                      "(and a valid port), such as https://images.example/disk.raw"
                      % _shown(source))
    algo, value = info.get("image_os_hash_algo"), info.get("image_os_hash_value")
    legacy = info.get("image_checksum")
    if algo or value:
        algo = _algorithm(algo)
        if not algo:
            errors.append("instance_info image_os_hash_algo is missing: set it to the "
                          "algorithm of image_os_hash_value (%s)" % ", ".join(HASH_ALGORITHMS))
        elif algo not in HASH_ALGORITHMS:
            errors.append("instance_info image_os_hash_algo %r is not one of %s"
                          % (algo, ", ".join(HASH_ALGORITHMS)))
        if not isinstance(value, str) or not value:
            errors.append("instance_info image_os_hash_value is missing: set the image's "
                          "%s hex digest (or a checksum file's URL)" % (algo or "sha256"))
        elif algo in HASH_ALGORITHMS:
            errors.extend(_digest_errors("image_os_hash_value", value, algo))
    elif not legacy:
        errors.append("instance_info has no checksum: set image_os_hash_algo (sha256) and "
                      "image_os_hash_value (the image's hex digest or a SHA256SUMS URL)")
    else:
        errors.extend(_digest_errors("image_checksum", legacy, None))
    disk_format = info.get("image_disk_format")
    if disk_format is not None and disk_format not in DISK_FORMATS:
        errors.append("instance_info image_disk_format %r is not one of %s"
                      % (disk_format, ", ".join(DISK_FORMATS)))
    # The agent is always sent image_type whole-disk: a partition image
    # (image_type, or Ironic's sign of one, a kernel and ramdisk) would be
    # written as a disk and the node reported active with nothing to boot.
    image_type = info.get("image_type")
    if image_type not in (None, "whole-disk"):
        errors.append("instance_info image_type %r is not supported: the direct deploy "
                      "writes whole-disk images only (set it to whole-disk, or remove it)"
                      % (image_type,))
    elif image_type is None and info.get("kernel") and info.get("ramdisk"):
        errors.append("instance_info kernel and ramdisk describe a partition image, and "
                      "the direct deploy writes whole-disk images only: remove them (or "
                      "set image_type to whole-disk if the image is a whole disk)")
    root_gb = info.get("root_gb")
    if root_gb is not None:
        try:
            if int(root_gb) < 0 or isinstance(root_gb, bool):
                raise ValueError
        except (TypeError, ValueError):
            errors.append("instance_info root_gb %r is not a whole number of GiB"
                          % (root_gb,))
    return errors


def root_device_errors(node) -> list[str]:
    """What the agent would refuse in the node's root device hints, found before power-on.

    The agent uses ``instance_info.root_device`` when set, else
    ``properties.root_device`` (as IPA, and Ironic's validate parses the same
    one): a hint it cannot parse (``{"size": "big"}``, ``{"serial": 123}``,
    an unknown name) failed the deploy only after a power cycle and a
    ramdisk boot, in ``write_image``, with the agent's DeviceNotFound.
    """
    from hwdrivers.agent import disk  # stdlib only: the agent's own hint parser

    for field, values in (("instance_info", node.instance_info),
                          ("properties", node.properties)):
        hints = (values or {}).get("root_device")
        if hints:
            return ["%s root_device: %s" % (field, problem)
                    for problem in disk.hint_problems(hints)]
    return []


def image_info(task) -> dict:
    """``image_info`` of ``standby.prepare_image`` from the node's instance_info."""
    info = task.node.instance_info or {}
    # The id names the image in the agent's messages: the URL's file name,
    # never its query (a temporary URL's signature) nor its credentials.
    path = urllib.parse.urlsplit(info["image_source"]).path
    # stream_raw_images and node_uuid as Ironic sends them: ironic-python-agent
    # streams a raw image onto the disk only when told to (its default is to
    # download the whole image into the ramdisk's RAM first, which a raw image
    # larger than the machine's memory does not survive); node_uuid names the
    # node in its config drive handling. hwdrivers-agent always streams.
    image = {"id": _image_id(info.get("image_name"), path),
             "urls": [info["image_source"]], "image_type": "whole-disk",
             "stream_raw_images": True, "node_uuid": task.node.uuid}
    if info.get("image_os_hash_algo"):
        image["os_hash_algo"] = _algorithm(info["image_os_hash_algo"])
        image["os_hash_value"] = info["image_os_hash_value"]
    elif info.get("image_checksum"):
        image["checksum"] = info["image_checksum"]
    if info.get("image_disk_format"):
        image["disk_format"] = info["image_disk_format"]
    if info.get("root_gb") is not None:
        image["root_gb"] = int(info["root_gb"])
    image.update(_proxies(task.node.driver_info or {}))
    return image


def _image_id(name: object, path: str) -> str:
    """image_info ``id``: one file name, never a path.

    ironic-python-agent stages an image it does not stream (qcow2) at
    ``/tmp/<id>``: an ``image_name`` of ``ubuntu/22.04`` failed there (no such
    directory), and ``/dev/sda`` or ``../..`` named a file outside /tmp.
    Ironic sends the image's UUID or the URL's last segment; so does this,
    the name's last segment first.
    """
    for candidate in (name if isinstance(name, str) else "", path):
        last = candidate.rstrip("/").rsplit("/", 1)[-1]
        if last.strip(".") and last.isprintable():
            return last
    return "image"


def _proxies(driver_info: dict) -> dict:
    """``proxies`` (and ``no_proxy``) of image_info, as Ironic's direct deploy fills them.

    Without them a provisioning network whose image server is reached
    through a proxy could not be deployed (the fields were refused as
    unknown driver_info, though the agent takes them).
    """
    proxies = {scheme: driver_info["image_%s_proxy" % scheme] for scheme in ("http", "https")
               if driver_info.get("image_%s_proxy" % scheme)}
    if not proxies:
        return {}
    extra = {"proxies": proxies}
    if driver_info.get("image_no_proxy"):
        extra["no_proxy"] = driver_info["image_no_proxy"]
    return extra


def _gate(task):
    return getattr(task, "gate", None)


def _power(task, target):
    """Switch the machine and record the verified state on the node.

    The step's save writes it: an active node reads "power on" at once,
    not "power off" until the next power sync.
    """
    task.node.power_state = actions.set_power_state(task, target, gate=_gate(task)).value


def client(task) -> agent_client.AgentClient:
    info = task.node.driver_internal_info or {}
    if not info.get("agent_url") or not info.get("agent_secret_token"):
        raise exception.DriverActionError(
            "no agent has called back yet (no agent URL or token)", node=task.node.ident)
    return agent_client.AgentClient(info["agent_url"], info["agent_secret_token"],
                                    task.node.ident, timeout=CONF.deploy.agent_request_timeout,
                                    verify_ca=info.get("agent_verify_ca"))


class DirectDeploy(base.DeployInterface):
    """The agent in the deploy ramdisk streams the image onto the root disk."""

    driver_info_schema = params.Schema(IMAGE_HTTP_PROXY, IMAGE_HTTPS_PROXY, IMAGE_NO_PROXY)

    #: the conductor drives this interface through its deploy steps
    step_driven = True
    #: steps that start an agent command and finish when it does
    agent_steps = frozenset({"write_image"})

    def validate(self, task):
        super().validate(task)
        boot_files.require_ramdisk_boot(task, "deploy_interface direct")
        errors = (instance_info_errors(task.node.instance_info or {})
                  + root_device_errors(task.node))
        if errors:
            raise exception.InvalidParameterValue(
                "Node %s: %s" % (task.node.ident, "; ".join(errors)), errors=errors)

    # -- the steps ----------------------------------------------------------------

    @base.deploy_step(priority=100)
    def deploy(self, task):
        """Boot the deploy ramdisk and wait for its agent.

        First the image URL (and a checksum file's) is asked whether the
        file is there (:mod:`image_check`): a definitive no fails the deploy
        before the machine is touched, not after a ramdisk boot.
        """
        info = task.node.instance_info or {}
        for field in ("image_source", "image_os_hash_value", "image_checksum"):
            # the checksum fields only when they name a checksum file
            if field != "image_source" and not _is_url(info.get(field)):
                continue
            refused = image_check.refusal(info[field], CONF.deploy.image_check_timeout)
            if refused:
                raise exception.InvalidParameterValue(
                    "Node %s: instance_info %s: %s; correct it (PATCH /v1/nodes/<node> "
                    "replace /instance_info/%s) and deploy again"
                    % (task.node.ident, field, refused, field))
        _power(task, PowerState.OFF)
        base.update_internal_info(task, **{key: None for key in AGENT_KEYS})
        task.driver.boot.prepare_ramdisk(task, {})
        _power(task, PowerState.ON)
        return ProvisionState.DEPLOYWAIT.value

    @base.deploy_step(priority=80)
    def write_image(self, task):
        """Ask the agent to stream, verify and write the image (and config drive)."""
        configdrive = (task.node.instance_info or {}).get("configdrive")
        params = {"image_info": image_info(task)}
        if configdrive:
            params["configdrive"] = configdrive
        result = client(task).start("standby.prepare_image", params)
        base.update_internal_info(task, agent_command={
            "id": result.get("id"), "name": "prepare_image", "started_at": time.time()})
        if result.get("command_status") == agent_client.RUNNING:
            return ProvisionState.DEPLOYWAIT.value
        return self.agent_step_done(task, result)

    def agent_step_done(self, task, result: dict):
        """The agent's command for the current step ended: None, or raise its error."""
        base.update_internal_info(task, agent_command=None)
        if result.get("command_status") != agent_client.SUCCEEDED:
            raise agent_client.AgentCommandFailed(
                "agent command %s failed: %s" % (
                    result.get("command_name"), agent_client.command_error_text(result)),
                node=task.node.ident)
        task.logger.info("agent: %s", (result.get("command_result") or {}).get("result"))
        return None

    @base.deploy_step(priority=60)
    def prepare_instance_boot(self, task):
        """Make the machine boot from its disk from now on."""
        task.driver.boot.prepare_instance(task)

    @base.deploy_step(priority=40)
    def tear_down_agent(self, task):
        """Power the ramdisk off through the agent; through the BMC if that fails."""
        try:
            client(task).start("standby.power_off", {})
            actions.wait_for_power_state(task, PowerState.OFF,
                                         timeout=CONF.deploy.power_off_wait,
                                         gate=_gate(task))
        except exception.HWDriversError as exc:
            task.logger.warning("the agent did not power the machine off (%s); powering "
                                "off through the BMC", exc)
            _power(task, PowerState.OFF)
        task.driver.boot.clean_up_ramdisk(task)
        base.update_internal_info(task, **{key: None for key in AGENT_KEYS})

    @base.deploy_step(priority=20)
    def boot_instance(self, task):
        """Power the machine on into its new instance."""
        _power(task, PowerState.ON)

    # -- the rest of the interface -------------------------------------------------------

    def prepare(self, task):
        return None

    def tear_down(self, task):
        _power(task, PowerState.OFF)
        task.driver.boot.clean_up_instance(task)
        return None

    def clean_up(self, task):
        task.driver.boot.clean_up_ramdisk(task)
        base.update_internal_info(task, **{key: None for key in AGENT_KEYS})

    def take_over(self, task):
        return None
