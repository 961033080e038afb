"""GET /metrics: the conductor's registry in Prometheus text format."""

import base64
import threading
import time
import types

import bcrypt
import flask
import pytest
from prometheus_client import parser
from werkzeug.test import Client

from hwdrivers import conf as hw_conf
from hwdrivers.api import auth
from hwdrivers.api import metrics as api_metrics
from hwdrivers.common import exception
from hwdrivers.conductor import controllers
from hwdrivers.conductor import metrics
from hwdrivers.conductor import power_sync


@pytest.fixture
def app():
    app = flask.Flask("metrics-test")
    app.register_blueprint(api_metrics.blueprint)
    return app


def scrape(client, **kwargs):
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    families = {f.name: f for f in parser.text_string_to_metric_families(
        response.data.decode())}
    return families


def value(families, family, sample, **labels):
    for s in families[family].samples:
        if s.name == sample and s.labels == labels:
            return s.value
    return 0.0


def test_every_family_is_exposed(app):
    families = scrape(app.test_client())
    for name in ("hwdrivers_operations", "hwdrivers_operation_duration_seconds",
                 "hwdrivers_driver_errors", "hwdrivers_controller_queue_depth",
                 "hwdrivers_power_sync_cycle_duration_seconds"):
        assert name in families, sorted(families)
    # The private registry: no process or platform collectors leak in.
    assert "process_cpu_seconds" not in families
    assert "python_info" not in families


def test_operations_latency_and_driver_errors(app):
    client = app.test_client()
    before = scrape(client)
    with metrics.operation("test_op"):
        time.sleep(0.01)
    with pytest.raises(exception.DriverConnectionError):
        with metrics.operation("test_op"):
            raise exception.DriverConnectionError("no route to the BMC")
    after = scrape(client)

    def delta(family, sample, **labels):
        return value(after, family, sample, **labels) - value(before, family, sample, **labels)

    assert delta("hwdrivers_operations", "hwdrivers_operations_total",
                 kind="test_op", result="success") == 1
    assert delta("hwdrivers_operations", "hwdrivers_operations_total",
                 kind="test_op", result="DriverConnectionError") == 1
    assert delta("hwdrivers_operation_duration_seconds",
                 "hwdrivers_operation_duration_seconds_count", kind="test_op") == 2
    assert delta("hwdrivers_operation_duration_seconds",
                 "hwdrivers_operation_duration_seconds_sum", kind="test_op") >= 0.01
    assert delta("hwdrivers_driver_errors", "hwdrivers_driver_errors_total",
                 code="connError") == 1


def test_queue_depth_per_controller_is_read_at_scrape_time(app):
    client = app.test_client()
    limits = types.SimpleNamespace(max_concurrency=1, min_interval=0.0)
    key = "snmp:192.0.2.1:161"
    holding, release = threading.Event(), threading.Event()

    def hold():
        with controllers.LIMITER.slot(key, limits):
            holding.set()
            release.wait(10)

    def wait_for_slot():
        with controllers.LIMITER.slot(key, limits):
            pass

    threads = [threading.Thread(target=hold)]
    threads[0].start()
    assert holding.wait(5)
    threads.append(threading.Thread(target=wait_for_slot))
    threads[1].start()
    deadline = time.monotonic() + 5
    while controllers.LIMITER.depths()[key][1] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        families = scrape(client)
        sample = "hwdrivers_controller_queue_depth"
        assert value(families, sample, sample, controller=key, state="in_use") == 1
        assert value(families, sample, sample, controller=key, state="waiting") == 1
    finally:
        release.set()
        for thread in threads:
            thread.join(5)
    families = scrape(client)
    assert value(families, sample, sample, controller=key, state="in_use") == 0
    assert value(families, sample, sample, controller=key, state="waiting") == 0


def test_sync_cycle_duration(app):
    client = app.test_client()
    family = "hwdrivers_power_sync_cycle_duration_seconds"
    before = scrape(client)
    metrics.record_sync_cycle(power_sync.SyncStats(nodes=3, in_sync=3, duration=0.3))
    after = scrape(client)
    count = family + "_count"
    assert value(after, family, count) - value(before, family, count) == 1
    le = value(after, family, family + "_bucket", le="0.5") - value(
        before, family, family + "_bucket", le="0.5")
    assert le == 1


def test_metrics_are_behind_http_basic_and_readers_may_scrape(app, config, tmp_path):
    path = tmp_path / "htpasswd"
    path.write_text("prom:%s\n" % bcrypt.hashpw(b"scrape-pw", bcrypt.gensalt(4)).decode())
    config(api__auth_strategy="http_basic", api__http_basic_auth_user_file=str(path),
           api__reader_users=["prom"])
    client = Client(auth.wrap(app, hw_conf.CONF))
    response = client.get("/metrics")
    assert response.status_code == 401
    token = base64.b64encode(b"prom:scrape-pw").decode()
    response = client.get("/metrics", headers={"Authorization": "Basic " + token})
    assert response.status_code == 200
    assert b"hwdrivers_operations" in response.data
    assert client.post("/metrics", headers={"Authorization": "Basic " + token}
                       ).status_code == 403


def test_served_by_create_app_and_counts_real_operations(config, sqlite_database):
    """Through the API app: a power change and a failed one show up in /metrics."""
    from hwdrivers.api import app as app_mod
    from hwdrivers.conductor import manager as manager_mod
    from hwdrivers.conductor import workers as workers_mod
    from hwdrivers.db import api as db_api

    service = types.SimpleNamespace(
        manager=manager_mod.ConductorManager(workers=workers_mod.WorkerPool(2)))
    try:
        client = app_mod.create_app(service, hw_conf.CONF).test_client()
        headers = {"X-OpenStack-Ironic-API-Version": "1.31"}
        response = client.post("/v1/nodes", json={"driver": "fake-hardware", "name": "m1"},
                               headers=headers)
        assert response.status_code == 201
        before = scrape(client)
        response = client.put("/v1/nodes/m1/states/power", json={"target": "power on"},
                              headers=headers)
        assert response.status_code == 202
        deadline = time.monotonic() + 10
        while db_api.get_node("m1")["target_power_state"] and time.monotonic() < deadline:
            time.sleep(0.02)
        after = scrape(client)
        name = "hwdrivers_operations_total"
        labels = {"kind": "set_power_state", "result": "success"}
        assert (value(after, "hwdrivers_operations", name, **labels)
                - value(before, "hwdrivers_operations", name, **labels)) == 1
    finally:
        service.manager.workers.shutdown(wait=True, timeout=10)
