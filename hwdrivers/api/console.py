"""/v1/nodes/<node>/states/console: a node's serial console, as Ironic serves it.

``PUT {"enabled": true|false}`` answers 202 once the request is checked (the
node's console interface has consoles, its driver_info is valid, a port is
free); the conductor's console manager then starts or stops the proxy, and
``GET`` shows the outcome: ``console_enabled`` and ``console_info`` (``{"type":
"socat", "url": "tcp://HOST:PORT"}``) as Ironic's, plus hwdrivers'
``console_state`` (starting, on, restarting, stopping, failed, off) and
``console_error`` (why a console asked for is off). ``GET .../console/log``
returns the end of the node's console log, which records what the machine
printed whether or not anyone was connected.
"""

import flask

from hwdrivers.api import errors
from hwdrivers.api import utils

blueprint = flask.Blueprint("console", __name__)

#: KiB of console log returned when the request does not say.
DEFAULT_LOG_KIB = 64


@blueprint.get("/v1/nodes/<ident>/states/console")
def get_console(ident):
    utils.check_query(())
    return utils.json_response(utils.manager().get_console(utils.context(), ident))


@blueprint.put("/v1/nodes/<ident>/states/console")
def set_console(ident):
    utils.check_query(())
    body = utils.json_body()
    utils.check_keys(body, ("enabled",), "console request")
    if "enabled" not in body:
        raise errors.APIError("Field enabled is required in the console request.")
    # As Ironic's (args.boolean): true/false, or a boolean string ("true", "off").
    enabled = utils.check_bool(body["enabled"], "enabled")
    node_uuid = utils.manager().set_console_mode(utils.context(), ident, enabled)
    return utils.empty_response(202, location=utils.url("nodes/%s/states/console"
                                                        % node_uuid))


@blueprint.get("/v1/nodes/<ident>/states/console/log")
def get_console_log(ident):
    utils.check_query(("kib",))
    conf = utils.conf().console
    limit = conf.log_max_bytes * (conf.log_backups + 1) // 1024
    raw = flask.request.args.get("kib", str(DEFAULT_LOG_KIB))
    try:
        kib = int(raw)
    except ValueError:
        kib = 0
    if not 1 <= kib <= limit:
        raise errors.APIError("Query parameter kib must be a whole number of KiB from 1 "
                              "to %d (what [console] log_max_bytes and log_backups "
                              "keep), got %r." % (limit, raw))
    text = utils.manager().read_console_log(utils.context(), ident, kib * 1024)
    return utils.json_response({"bytes": len(text.encode("utf-8")), "log": text})
