"""``hwdrivers node deploy``, ``rebuild`` and ``undeploy``: put an image on a machine, again, off.

Against the service (``--url``/``HWDRIVERS_URL``) the command asks for the
transition, then waits, showing one progress line on standard error (the
provision state, the deploy step running, the seconds elapsed) that it
rewrites in place on a terminal; the result is printed as usual on
standard output. A deploy with the ``direct`` interface needs the service:
the ramdisk agent calls the API back. ``--config-drive`` takes a JSON object
(``meta_data``, ``user_data``, ``network_data``), a file holding one, or an
already-built blob or URL, as ``baremetal node deploy --config-drive`` does.
"""

import os
import sys
import time

from hwdrivers.cli import inputs
from hwdrivers.common import exception
from hwdrivers.common import json_values

DEFAULT_WAIT = 3600.0
POLL_INTERVAL = 0.5


def parse_config_drive(value: str | None):
    """A dict from JSON text or a JSON file; other strings (blob, URL) as given."""
    if value is None:
        return None
    text = value
    if not value.lstrip().startswith("{") and os.path.isfile(value):
        try:
            with open(value, "rb") as handle:
                text = handle.read().decode("utf-8-sig")  # a BOM: a Windows editor
        except OSError as exc:
            raise SystemExit("error: --config-drive %s cannot be read: %s"
                             % (value, exc.strerror)) from None
        except UnicodeDecodeError:
            raise SystemExit("error: --config-drive %s is not UTF-8 text: give a file of "
                             "JSON, or the gzipped base64 ISO itself" % value) from None
    if text.lstrip().startswith("{"):
        try:
            drive = json_values.loads(text)
        except json_values.JSONValueError as exc:
            raise SystemExit("error: --config-drive: %s" % exc.describe("the JSON", "give"))
        except ValueError as exc:
            raise SystemExit("error: --config-drive is not valid JSON: %s" % exc)
        except RecursionError:
            raise SystemExit("error: --config-drive JSON nests arrays or objects too deep "
                             "to read") from None
        if not isinstance(drive, dict):
            raise SystemExit("error: --config-drive JSON must be an object")
        return drive
    return text


def progress_text(node: dict, started: float) -> str:
    info = node.get("driver_internal_info") or {}
    steps = info.get("deploy_steps") or []
    index = info.get("deploy_step_index")
    step = ""
    if isinstance(index, int) and 0 <= index < len(steps):
        step = " step %s.%s" % (steps[index]["interface"], steps[index]["step"])
    target = node.get("target_provision_state")
    return "%s: %s%s%s (%ds)" % (node.get("name") or node.get("uuid"),
                                 node.get("provision_state"),
                                 " -> %s" % target if target else "", step,
                                 time.monotonic() - started)


class _Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = None

    def show(self, text: str) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text)
        elif text.split(" (")[0] != self.last:  # a log: one line per change
            self.stream.write(text + "\n")
        self.last = text.split(" (")[0]
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.last is not None:
            self.stream.write("\n")
            self.stream.flush()


def _wait_http(backend, uuid: str, action: str, timeout: float, progress: _Progress):
    started = time.monotonic()
    deadline = started + timeout
    fields = ("uuid,name,provision_state,target_provision_state,power_state,last_error,"
              "driver_internal_info")
    try:
        while True:
            node = backend.request("GET", backend._node_path(uuid),
                                   query={"fields": fields})
            progress.show(progress_text(node, started))
            if node.get("target_provision_state") is None:
                break
            if time.monotonic() > deadline:
                raise exception.HWDriversError(
                    "Node %s: %s still in progress after %.0f s (provision state %s); the "
                    "deploy goes on: check 'hwdrivers node show %s' later"
                    % (uuid, action, timeout, node.get("provision_state"), uuid))
            time.sleep(POLL_INTERVAL)
    finally:
        progress.done()
    if node.get("provision_state") in ("deploy failed", "error", "clean failed"):
        raise exception.HWDriversError("Node %s: %s failed: %s" % (
            node.get("name") or uuid, action, node.get("last_error")))
    return {key: node.get(key) for key in ("provision_state", "target_provision_state",
                                           "power_state", "last_error")}


#: the provision target -> the word for it in messages ("deploy failed", not "active failed")
_ACTION_WORDS = {"active": "deploy", "deleted": "undeploy"}


def run_action(args, backend, action: str, configdrive=None):
    inputs.check_seconds(args.wait_timeout, "--wait-timeout")
    timeout = DEFAULT_WAIT if args.wait_timeout is None else args.wait_timeout
    if hasattr(backend, "request"):  # the service
        uuid = backend.request("GET", backend._node_path(args.node),
                               query={"fields": "uuid"})["uuid"]
        body = {"target": action}
        if configdrive is not None:
            body["configdrive"] = configdrive
        backend.request("PUT", backend._node_path(uuid, "/states/provision"), body=body,
                        expect=(202,))
        return _wait_http(backend, uuid, _ACTION_WORDS.get(action, action), timeout,
                          _Progress())
    manager, context = backend.manager, backend.context
    node = manager.get_node(context, args.node)
    manager.do_provisioning_action(context, node.uuid, action, configdrive=configdrive)
    node = manager.get_node(context, node.uuid)
    if node.provision_state == "wait call-back":
        raise exception.HWDriversError(
            "Node %s waits for its ramdisk agent, which calls the API back: run deploys "
            "against the service (--url or HWDRIVERS_URL)" % node.ident)
    if node.last_error and node.provision_state in ("deploy failed", "error"):
        raise exception.HWDriversError(node.last_error)
    return {"provision_state": node.provision_state,
            "target_provision_state": node.target_provision_state,
            "power_state": node.power_state, "last_error": node.last_error}


def node_deploy(args, backend):
    return run_action(args, backend, "active", parse_config_drive(args.config_drive))


def node_undeploy(args, backend):
    return run_action(args, backend, "deleted")


def node_rebuild(args, backend):
    return run_action(args, backend, "rebuild", parse_config_drive(args.config_drive))


def register(nsub, fmt) -> None:
    """Add ``node deploy``, ``rebuild`` and ``undeploy`` to the ``node`` subcommands."""
    p = nsub.add_parser("deploy", parents=[fmt],
                        help="Provision action: available -> active: write the image in "
                             "instance_info (and a config drive) to the machine.")
    p.add_argument("node")
    p.add_argument("--config-drive", metavar="JSON|FILE|BLOB|URL",
                   help="meta_data/user_data/network_data as JSON (or a file of it), or a "
                        "gzipped base64 ISO or its URL")
    p.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                   help="With --url: give up waiting after this long (the deploy goes "
                        "on). Locally it runs in this process, to its end.")
    p.set_defaults(func=node_deploy)
    p = nsub.add_parser("undeploy", parents=[fmt],
                        help="Provision action: active or deploy failed -> available "
                             "(power off, boot files removed, instance_info cleared).")
    p.add_argument("node")
    p.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                   help="With --url: give up waiting after this long (the undeploy goes "
                        "on). Locally it runs in this process, to its end.")
    p.set_defaults(func=node_undeploy)
    p = nsub.add_parser("rebuild", parents=[fmt],
                        help="Provision action: active or deploy failed -> active: write the "
                             "image in instance_info again (the config drive too, or the "
                             "one given).")
    p.add_argument("node")
    p.add_argument("--config-drive", metavar="JSON|FILE|BLOB|URL",
                   help="a new config drive, as for deploy (default: the node's own)")
    p.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                   help="With --url: give up waiting after this long (the rebuild goes "
                        "on). Locally it runs in this process, to its end.")
    p.set_defaults(func=node_rebuild)
