"""``/maintenance`` is patchable, as in Ironic's PATCH_ALLOWED_FIELDS.

Ironic takes ``replace /maintenance true`` (and false, and its boolean
strings) in a node PATCH; hwdrivers answered 400 "read-only field; use
PUT or DELETE .../maintenance", so tools that patch a node's whole
desired state failed. Leaving maintenance clears its reason, as DELETE
does; the reason itself stays PUT's (Ironic does not patch it either).
"""

import pytest

from tests.api.conftest import error_of, row


def test_replace_true_enters_maintenance_with_the_other_changes(api, make_node):
    make_node("pm")
    resp = api.patch("/v1/nodes/pm", [
        {"op": "add", "path": "/extra/k", "value": "v"},
        {"op": "replace", "path": "/maintenance", "value": True}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc = resp.get_json()
    assert doc["maintenance"] is True and doc["extra"] == {"k": "v"}
    assert doc["reservation"] is None
    assert row("pm")["maintenance"] is True


@pytest.mark.parametrize("op", [{"op": "replace", "value": False},
                                {"op": "replace", "value": "false"},
                                {"op": "remove"}])
def test_false_or_remove_leaves_maintenance_and_clears_the_reason(api, make_node, op):
    make_node("pm-off")
    assert api.put("/v1/nodes/pm-off/maintenance", {"reason": "disk"}).status_code == 202
    resp = api.patch("/v1/nodes/pm-off", [dict(op, path="/maintenance")])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["maintenance"] is False
    assert row("pm-off")["maintenance_reason"] is None


def test_a_refused_patch_changes_maintenance_neither(api, make_node):
    make_node("pm-bad")
    resp = api.patch("/v1/nodes/pm-bad", [
        {"op": "replace", "path": "/maintenance", "value": True},
        {"op": "replace", "path": "/extra/missing", "value": 1}])
    assert resp.status_code == 400
    assert row("pm-bad")["maintenance"] is False


def test_a_value_that_is_not_a_boolean_is_a_400_naming_it(api, make_node):
    make_node("pm-maybe")
    resp = api.patch("/v1/nodes/pm-maybe", [
        {"op": "replace", "path": "/maintenance", "value": "maybe"}])
    assert resp.status_code == 400
    assert "maintenance" in error_of(resp)
    assert row("pm-maybe")["maintenance"] is False


def test_the_reason_stays_read_only(api, make_node):
    make_node("pm-reason")
    resp = api.patch("/v1/nodes/pm-reason", [
        {"op": "replace", "path": "/maintenance_reason", "value": "x"}])
    assert resp.status_code == 400
    assert "/maintenance" in error_of(resp)


def test_maintenance_and_the_other_fields_are_one_write(api, make_node, monkeypatch):
    """They were two tasks: the fields saved and the lock released, then
    maintenance set in a second task that another could get in before (or
    that failed, the fields already saved). Now one task saves them all."""
    from hwdrivers.conductor import task_manager

    make_node("pm-one")
    assert api.put("/v1/nodes/pm-one/maintenance", {"reason": "disk"}).status_code == 202
    purposes = []
    acquire = task_manager.acquire

    def counting(context, ident, *args, **kwargs):
        purposes.append(kwargs.get("purpose"))
        return acquire(context, ident, *args, **kwargs)

    monkeypatch.setattr(task_manager, "acquire", counting)
    resp = api.patch("/v1/nodes/pm-one", [
        {"op": "add", "path": "/extra/k", "value": "v"},
        {"op": "replace", "path": "/maintenance", "value": False}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert purposes == ["node update"]
    stored = row("pm-one")
    assert (stored["maintenance"], stored["maintenance_reason"], stored["extra"]) == (
        False, None, {"k": "v"})
