"""``GET /`` and ``GET /v1``: the version documents clients discover us with."""

import flask

from hwdrivers.api import microversions
from hwdrivers.api import utils

blueprint = flask.Blueprint("root", __name__)


@blueprint.get("/")
def root():
    version = microversions.version_document(utils.base_url())
    return utils.json_response({
        "name": "OpenStack Ironic API",
        "description": "hwdrivers: an Ironic v1-compatible bare metal API for "
                       "controlling machines through their BMCs and PDUs.",
        "versions": [version],
        "default_version": version,
    })


@blueprint.get("/v1")
def v1():
    base = utils.base_url()

    def link(name):
        return [{"href": "%s/v1/%s/" % (base, name), "rel": "self"},
                {"href": "%s/%s/" % (base, name), "rel": "bookmark"}]

    doc = {
        "id": "v1",
        "links": [{"href": "%s/v1/" % base, "rel": "self"}],
        "media_types": [{"base": "application/json",
                         "type": "application/vnd.openstack.ironic.v1+json"}],
        "version": microversions.version_document(base),
        "nodes": link("nodes"),
        "ports": link("ports"),
        "drivers": link("drivers"),
    }
    if microversions.current() >= microversions.ROUTE_VERSIONS["conductors"]:
        doc["conductors"] = link("conductors")  # as Ironic's VERSIONED_CONTROLLERS
    return utils.json_response(doc)
