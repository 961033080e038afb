"""The one Task a driver may rely on: every caller's task provides it."""

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import power_sync
from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from hwdrivers.drivers import base
from hwdrivers.drivers import factory
from hwdrivers.drivers import task as driver_task
from hwdrivers.objects.node import Node


def _provides(task):
    assert isinstance(task, base.Task)
    assert isinstance(task.node, base.Node)
    assert isinstance(task.shared, bool)
    assert task.driver.power is not None


def test_the_conductor_cli_and_power_sync_tasks_all_provide_it(database):
    row = db_api.create_node({"driver": "fake-hardware", "name": "proto"})
    ctx = hw_context.get_admin_context()
    with task_manager.acquire(ctx, row["uuid"], purpose="protocol test") as task:
        _provides(task)
    node = Node(db_api.get_node(row["uuid"]))
    _provides(power_sync._ReadTask(node, factory.get_registry().compose(node), ctx))
    _provides(driver_task.StandaloneTask.for_driver("fake-hardware"))


def test_an_object_missing_a_field_is_not_a_task():
    class Half:
        node = None
        driver = None
        shared = False

    assert not isinstance(Half(), base.Task)
