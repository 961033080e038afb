"""Request ids and lease owners: unique without a system call each, forks included.

Both used to draw from ``os.urandom`` per request; they only need to be
unique (neither is a secret), so they now come from a per-process source.
What must not happen is a forked child repeating its parent's values.
"""

import os
import re
import uuid

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import task_manager

_REQUEST_ID = re.compile(
    r"req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")


def _in_child(func):
    """``func()`` run in a forked child; its string result."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: answer and leave without running anything else
        try:
            os.write(write, func().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        answer = pipe.read()
    os.waitpid(pid, 0)
    return answer


def test_request_ids_are_version_4_uuids_as_oslo_context_makes_them():
    ids = {hw_context.RequestContext().request_id for _ in range(5000)}
    assert len(ids) == 5000
    for request_id in list(ids)[:200]:
        assert _REQUEST_ID.match(request_id), request_id
        assert uuid.UUID(request_id[4:]).version == 4
    assert hw_context.RequestContext(request_id="req-given").request_id == "req-given"


def test_a_forked_child_does_not_repeat_its_parents_request_ids():
    child = _in_child(lambda: hw_context.new_request_id())
    parent = hw_context.new_request_id()
    assert _REQUEST_ID.match(child) and child != parent


def test_lease_owners_are_unique_and_name_this_host(config):
    config(host="conductor-7")
    owners = [task_manager.make_owner() for _ in range(5000)]
    assert len(set(owners)) == 5000
    assert all(owner.startswith("conductor-7:") for owner in owners)
    # The API shows a reservation as the host before the first colon.
    assert {owner.split(":")[0] for owner in owners} == {"conductor-7"}


def test_a_forked_child_takes_leases_under_its_own_token(config):
    parent = task_manager.make_owner()
    child = _in_child(task_manager.make_owner)
    assert child != parent
    # Not the parent's sequence continued: a prefix of its own.
    assert child.rpartition("-")[0] != parent.rpartition("-")[0]
