"""``GET /metrics``: the conductor's Prometheus metrics over the API port.

The metrics themselves (operations by kind and result, latency histograms,
driver errors by taxonomy code, queue depth per controller, sync cycle
duration) live in :mod:`hwdrivers.conductor.metrics`, in a private
registry the operations record into; this blueprint only renders it in the
Prometheus text format.

It is served behind the API's authentication, as in Ironic: controller
addresses and error rates describe the fleet. With ``http_basic``, give
the scraper a user listed in ``[api] reader_users`` (readers may GET
everything and change nothing); with ``noauth`` the API is loopback-only
anyway.
"""

import flask

blueprint = flask.Blueprint("metrics", __name__)


@blueprint.route("/metrics", methods=["GET"])
def metrics():
    # Imported here so starting the API does not import prometheus_client
    # before the first scrape.
    from hwdrivers.conductor import metrics as conductor_metrics

    body, content_type = conductor_metrics.render()
    response = flask.Response(body, status=200)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response
