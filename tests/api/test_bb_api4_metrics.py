"""GET /metrics as Prometheus scrapes a large fleet: the controller queue
gauge stays as small as the work in flight, and the text still parses."""

import threading
import types

import flask
from prometheus_client import parser

from hwdrivers.api import metrics as api_metrics
from hwdrivers.conductor import controllers

FAMILY = "hwdrivers_controller_queue_depth"


def _controllers_scraped():
    app = flask.Flask("bb4-metrics")
    app.register_blueprint(api_metrics.blueprint)
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in parser.text_string_to_metric_families(
        response.get_data(as_text=True))}
    assert FAMILY in families  # HELP and TYPE stay even with no busy controller
    return {s.labels["controller"]: s.value for s in families[FAMILY].samples
            if s.labels["state"] == "in_use"}


def test_idle_controllers_have_no_series():
    """Every controller the process ever queued for stayed in /metrics at 0
    for good -- deleted nodes' BMCs and old addresses too: N BMCs made
    2N series of zeros. Only busy controllers are exported now."""
    limits = types.SimpleNamespace(max_concurrency=1, min_interval=0.0)
    idle = ["bb4-idle-bmc-%d" % i for i in range(500)]
    for key in idle:
        with controllers.LIMITER.slot(key, limits):
            pass
    busy = 'bb4-busy "pdu"\n\\1'  # quotes, newline, backslash: escaped in the text
    inside, leave = threading.Event(), threading.Event()

    def hold():
        with controllers.LIMITER.slot(busy, limits):
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(5)
        scraped = _controllers_scraped()
    finally:
        leave.set()
        holder.join(5)
    assert scraped.get(busy) == 1
    assert not set(idle) & set(scraped)
    assert busy not in _controllers_scraped()
