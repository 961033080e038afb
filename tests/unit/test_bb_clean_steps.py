"""Manual clean steps the request gets wrong, refused (400) before anything changes.

A ``priority`` was taken with any value and ignored: the steps run in the
order given, so an operator giving priorities to order them had them run in
another order, silently. Ironic refuses the field (its schema takes
interface, step, args); hwdrivers now refuses it too, saying why.

Manual cleaning of a node whose power driver_info is invalid was accepted
(202) and failed in the worker, the node left in ``clean failed``; Ironic
validates the power interface before it accepts a manual cleaning (its
steps reboot the node), and so does hwdrivers now: 400 naming the field.

A refusal echoed the request whole: 5000 bad steps made a 500 kB error
(answered, and logged), a step or interface name of a megabyte came back
entire. As the BIOS checks already did, at most 20 problems (or names) are
listed, then how many more, and a name is quoted up to 60 characters.

``args`` that were not an object but were empty (``[]``, ``""``, ``0``,
``false``) were taken as no arguments and the step run; Ironic's schema
refuses them (``args`` is an object), as hwdrivers refused a non-empty
list or string.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.db import api as db_api

CTX = hw_context.get_admin_context()


@pytest.fixture
def node(manager):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "cs1"})
    manager.do_provisioning_action(CTX, "cs1", "manage")
    return node


def _refused(manager, node, step, *words):
    before = db_api.get_node(node.id)
    with pytest.raises(exception.InvalidParameterValue) as info:
        manager.do_provisioning_action(CTX, "cs1", "clean", clean_steps=[step])
    for word in words:
        assert word in str(info.value), str(info.value)
    after = db_api.get_node(node.id)
    assert after["provision_state"] == "manageable"
    assert after["driver_internal_info"] == before["driver_internal_info"]


@pytest.mark.parametrize("args", [[], "", 0, False, ["x"], "x"])
def test_args_that_are_not_an_object_are_refused(manager, node, args):
    _refused(manager, node, {"interface": "deploy", "step": "erase_devices", "args": args},
             "clean step deploy.erase_devices", "args must be an object")


@pytest.mark.parametrize("step", [
    {"interface": "deploy", "step": "erase_devices"},
    {"interface": "deploy", "step": "erase_devices", "args": None},
    {"interface": "deploy", "step": "erase_devices", "args": {}},
])
def test_no_args_absent_null_or_empty_object(manager, node, step):
    manager.do_provisioning_action(CTX, "cs1", "clean", clean_steps=[step])
    assert db_api.get_node(node.id)["provision_state"] == "manageable"
    assert db_api.get_node(node.id)["last_error"] is None


@pytest.mark.parametrize("priority", [90, "high", None])
def test_a_priority_is_refused_saying_the_list_order_is_the_order(manager, node, priority):
    _refused(manager, node, {"interface": "deploy", "step": "erase_devices",
                             "priority": priority},
             "clean_steps[0]: priority is not taken", "in the order given")


def test_invalid_power_driver_info_is_refused_before_cleaning(manager, node):
    db_api.update_node(node.id, {"driver_info": {"fake_address": "not an address!"}})
    _refused(manager, node, {"interface": "deploy", "step": "erase_devices"},
             "driver_info field fake_address", "--driver-info")
    assert db_api.get_node(node.id)["last_error"] is None


def _refusal(manager, steps):
    with pytest.raises(exception.InvalidParameterValue) as info:
        manager.do_provisioning_action(CTX, "cs1", "clean", clean_steps=steps)
    return str(info.value)


def test_many_bad_steps_make_a_short_refusal(manager, node):
    text = _refusal(manager, [{"interface": "deploy", "step": "nope%d" % i}
                              for i in range(5000)])
    assert len(text) < 4000, len(text)
    assert "clean step deploy.nope0 does not exist" in text
    assert "and 4980 more problems" in text


@pytest.mark.parametrize("field", ["interface", "step", "extra"])
def test_a_huge_name_is_quoted_short(manager, node, field):
    step = {"interface": "deploy", "step": "erase_devices"}
    huge = "x" * 100000
    if field == "extra":
        step[huge] = 1
    else:
        step[field] = huge
    text = _refusal(manager, [step])
    assert len(text) < 1000, len(text)
    assert "characters)" in text


def test_many_unknown_arguments_are_counted(manager, node):
    text = _refusal(manager, [{"interface": "deploy", "step": "erase_devices",
                               "args": {"a%04d" % i: 1 for i in range(3000)}}])
    assert "unknown argument(s) a0000, a0001" in text and "and 2980 more" in text
    assert len(text) < 1000, len(text)
