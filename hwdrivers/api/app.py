"""The Flask application: routes, microversions, Ironic-shaped errors.

``create_app(service)`` is all a server (or a test) needs: the service
provides ``.manager`` (a ConductorManager); everything else is read from
``conf``. Request handling is thread-safe: waitress serves requests on
several threads and every handler only calls the manager.
"""

import logging
import time

import flask
from werkzeug import exceptions as http_exceptions

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import utils
from hwdrivers.common import exception
from hwdrivers.common import log_text

LOG = logging.getLogger(__name__)


def _blueprints():
    from hwdrivers.api import bootfiles
    from hwdrivers.api import conductors
    from hwdrivers.api import console
    from hwdrivers.api import drivers
    from hwdrivers.api import history
    from hwdrivers.api import management
    from hwdrivers.api import metrics
    from hwdrivers.api import nodes
    from hwdrivers.api import ports
    from hwdrivers.api import root
    from hwdrivers.api import ramdisk
    from hwdrivers.api import states
    return [root.blueprint, nodes.blueprint, states.blueprint, management.blueprint,
            ports.blueprint, drivers.blueprint, conductors.blueprint, ramdisk.blueprint,
            bootfiles.blueprint, console.blueprint,
            history.blueprint, metrics.blueprint] + _hardware_info_blueprints()


def _hardware_info_blueprints():
    """Inspection inventories and BIOS settings (doc/inspection.md)."""
    from hwdrivers.api import bios
    from hwdrivers.api import inventory
    return [inventory.blueprint, bios.blueprint]


def create_app(service, conf=None):
    """The WSGI application serving ``service`` (which has ``.manager``)."""
    if conf is None:
        from hwdrivers.conf import CONF as conf
    app = flask.Flask("hwdrivers.api")
    app.config[utils.SERVICE_KEY] = service
    app.config[utils.CONF_KEY] = conf
    app.config["MAX_CONTENT_LENGTH"] = conf.api.max_request_body_size
    app.url_map.strict_slashes = False
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)

    @app.before_request
    def negotiate():
        flask.g.started = time.monotonic()
        flask.g.api_version = None
        request = flask.request
        limit, option = utils.body_limit(conf, request.path)
        if limit != conf.api.max_request_body_size:
            request.max_content_length = limit  # werkzeug's bound on a streamed body
        length = request.content_length
        if length is not None and length > limit:
            raise utils.too_large(limit, option, length)
        flask.g.api_version = microversions.requested(flask.request.headers)

    @app.after_request
    def headers(response):
        g = flask.g
        return finish(response, g.get("api_version"), utils.context(), flask.request.method,
                      flask.request.path, g.get("started"))

    @app.errorhandler(exception.HWDriversError)
    def hwdrivers_error(exc):
        return errors.response_for_exception(exc)

    @app.errorhandler(http_exceptions.HTTPException)
    def http_error(exc):
        status = exc.code or 500
        if status == 404:
            message = ("The resource %s could not be found.%s" % (
                flask.request.path, unimplemented_hint(flask.request.path)))
        elif status == 405:
            message = ("The method %s is not allowed for %s; allowed: %s.%s" % (
                flask.request.method, flask.request.path,
                ", ".join(sorted(exc.valid_methods or [])),
                unimplemented_hint(flask.request.path)))
        elif status == 413:
            message = str(utils.too_large(*utils.body_limit(conf, flask.request.path)))
        else:
            message = exc.description or exc.name
        resp = errors.error_response(status, message)
        if status == 405 and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return resp

    @app.errorhandler(Exception)
    def unexpected(exc):
        return errors.response_for_exception(exc)

    from hwdrivers.api import fastpath
    app.wsgi_app = fastpath.FastPath(app.wsgi_app, service, conf)
    return app


#: Ironic API resources hwdrivers does not implement: a path under one is
#: a 404 that says so, not one that reads like a typo or a missing node.
#: Keys are /v1/<collection> or a node's sub-resource (/v1/nodes/<n>/<sub>).
UNIMPLEMENTED = {
    "chassis": "chassis", "portgroups": "port groups", "volume": "volume connectors "
    "and targets", "allocations": "allocations", "deploy_templates": "deploy templates",
    "runbooks": "runbooks", "shards": "shards", "events": "events",
}
UNIMPLEMENTED_NODE = {
    "traits": "traits (a node's are always empty)", "vifs": "VIFs (networking)",
    "portgroups": "port groups", "volume": "volume connectors and targets",
    "firmware": "firmware components", "vmedia": "virtual media attachment",
    "children": "child nodes", "allocation": "allocations",
    "raid": "RAID configuration", "boot_mode": "boot mode changes",
    "secure_boot": "secure boot changes", "indicators": "indicators",
}


def unimplemented_hint(path):
    """`` hwdrivers does not implement ...`` for a path under UNIMPLEMENTED, else ""."""
    parts = path.strip("/").split("/")
    what = None
    if len(parts) >= 2 and parts[0] == "v1":
        what = UNIMPLEMENTED.get(parts[1])
        if parts[1] == "drivers" and len(parts) >= 4 and parts[3] == "raid":
            what = UNIMPLEMENTED_NODE["raid"]
        if parts[1] == "nodes" and len(parts) >= 4:
            sub = parts[4] if parts[3] == "states" and len(parts) >= 5 else parts[3]
            what = UNIMPLEMENTED_NODE.get(sub)
    if what is None:
        return ""
    return " hwdrivers does not implement Ironic's %s." % what


#: The response header naming the request (the client's own, when sane).
REQUEST_ID_HEADER = "X-OpenStack-Request-Id"


def finish(response, api_version, ctx, method, path, started):
    """What every response gets: version headers, the request id, a log line."""
    microversions.add_headers(response, api_version)
    response.headers[REQUEST_ID_HEADER] = ctx.request_id
    log_request(method, path, response.status_code, ctx, started)
    return response


def log_request(method, path, status, ctx, started):
    """One line per request for operators: paths and statuses only.

    Bodies may carry driver_info secrets and are never logged; the method
    and path are escaped (``log_text.printable``), so a request cannot forge a line.
    """
    elapsed_ms = (time.monotonic() - started) * 1000.0 if started else 0.0
    LOG.info("%s %s -> %d (%.1f ms) [%s%s]", log_text.printable(method),
             log_text.printable(path), status, elapsed_ms, ctx.request_id,
             " user=%s" % ctx.user if ctx.user else "")
