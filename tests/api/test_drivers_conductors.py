"""/v1/drivers and /v1/conductors."""

import datetime

from hwdrivers.db import api as db_api
from tests.api.conftest import error_of


def test_driver_list_and_show(api, config):
    config(host="api-host", enabled_hardware_types=["fake-hardware"])
    body = api.get("/v1/drivers").get_json()
    (driver,) = body["drivers"]
    assert driver["name"] == "fake-hardware" and driver["type"] == "dynamic"
    assert driver["hosts"] == ["api-host"]
    assert driver["links"][0]["href"] == "http://localhost/v1/drivers/fake-hardware"
    assert "default_power_interface" not in driver
    detail = api.get("/v1/drivers?detail=true").get_json()["drivers"][0]
    assert detail["default_power_interface"] == "fake"
    assert "fake" in detail["enabled_power_interfaces"]
    assert api.get("/v1/drivers?type=classic").get_json() == {"drivers": []}
    show = api.get("/v1/drivers/fake-hardware").get_json()
    assert show["default_management_interface"] == "fake"


def test_driver_hosts_come_from_conductors(api):
    db_api.register_conductor("c1", ["fake-hardware"])
    db_api.register_conductor("c2", ["ipmi"])
    drivers = {d["name"]: d for d in api.get("/v1/drivers").get_json()["drivers"]}
    assert drivers["fake-hardware"]["hosts"] == ["c1"]
    assert drivers["ipmi"]["hosts"] == ["c2"]


def test_driver_properties_are_flat_with_required_flag(api):
    props = api.get("/v1/drivers/fake-hardware/properties").get_json()
    assert props["fake_password"] == "Stand-in BMC password. Optional."


def test_unknown_driver_is_404_and_bad_type_400(api):
    resp = api.get("/v1/drivers/nope")
    assert resp.status_code == 404 and "nope" in error_of(resp)
    assert api.get("/v1/drivers/nope/properties").status_code == 404
    resp = api.get("/v1/drivers?type=weird")
    assert resp.status_code == 400 and "type" in error_of(resp)


def test_conductors(api, config):
    db_api.register_conductor("alive-host", ["fake-hardware"])
    db_api.register_conductor("dead-host", ["fake-hardware"])
    db_api.unregister_conductor("dead-host")
    db_api.register_conductor("stale-host", ["fake-hardware"])
    with __import__("hwdrivers.db.engine", fromlist=["writer"]).writer() as conn:
        conn.execute(db_api.conductors.update()
                     .where(db_api.conductors.c.hostname == "stale-host")
                     .values(updated_at=db_api.utcnow() - datetime.timedelta(hours=1)))
    body = api.get("/v1/conductors").get_json()["conductors"]
    alive = {c["hostname"]: c["alive"] for c in body}
    assert alive == {"alive-host": True, "dead-host": False, "stale-host": False}
    assert "drivers" not in body[0]
    detail = api.get("/v1/conductors?detail=true").get_json()["conductors"][0]
    assert detail["drivers"] == ["fake-hardware"]
    show = api.get("/v1/conductors/alive-host").get_json()
    assert show["hostname"] == "alive-host" and show["alive"] is True
    resp = api.get("/v1/conductors/ghost")
    assert resp.status_code == 404 and "ghost" in error_of(resp)


def test_driver_properties_detail_carries_the_declaration(api):
    """?detail=true (a hwdrivers extension): secret, type, interface, default."""
    plain = api.get("/v1/drivers/ipmi/properties").get_json()
    resp = api.get("/v1/drivers/ipmi/properties?detail=true")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["properties"] == plain  # Ironic's map, unchanged, beside it
    power = {f["name"]: f for f in doc["interfaces"]["power"]}
    assert power["ipmi_password"]["secret"] is True
    assert power["ipmi_address"] == dict(power["ipmi_address"], required=True,
                                         secret=False, type="address")
    assert power["ipmi_port"]["type"] == "port" and power["ipmi_port"]["default"] == 623
    assert api.get("/v1/drivers/ipmi/properties?detail=maybe").status_code == 400
    assert api.get("/v1/drivers/ipmi/properties?colour=red").status_code == 400
