"""One controller spelled two ways: one queue and one owner, not two.

A fleet enrolled by several people (or imported from several inventories)
names the same BMC ``BMC7.Example.com`` on one node and ``bmc7.example.com``
on another. Host names ignore case, so both must share the controller's
``max_concurrency`` and land on one conductor of the ring; before, each
spelling got its own queue (the BMC saw twice its limit) and its own ring
position (two conductors drove it).
"""

import uuid

from hwdrivers.conductor import controllers
from hwdrivers.conductor import hash_ring
from hwdrivers.drivers.base import ControllerLimits

ONE_AT_A_TIME = ControllerLimits(1, 0.0)
TWO_AT_A_TIME = ControllerLimits(2, 0.0)


def test_two_spellings_share_one_queue():
    limiter = controllers.ControllerLimiter()
    with limiter.slot("ipmi:BMC7.Example.com:623", TWO_AT_A_TIME):
        with limiter.slot("ipmi:bmc7.example.com:623", TWO_AT_A_TIME):
            depths = limiter.depths()
    assert depths == {"ipmi:bmc7.example.com:623": (2, 0)}
    assert limiter.peak("ipmi:BMC7.EXAMPLE.COM:623") == 2


def test_the_shared_queue_holds_the_limit():
    limiter = controllers.ControllerLimiter()
    with limiter.slot("redfish:BMC7.Example.com", ONE_AT_A_TIME):
        slots = limiter._controllers["redfish:bmc7.example.com"].slots
        # The other spelling would have to wait: no slot is free for it.
        assert slots.acquire(blocking=False) is False


class _Power:
    def __init__(self, key):
        self.key = key

    def controller_key(self, task):
        return self.key


class _Driver:
    def __init__(self, key):
        self.interfaces = {"power": _Power(key)}


class _Node:
    def __init__(self):
        self.uuid = str(uuid.uuid4())


def test_two_spellings_have_one_ring_key():
    upper = hash_ring.ring_key(_Node(), _Driver("ipmi:BMC7.Example.com:623"))
    lower = hash_ring.ring_key(_Node(), _Driver("ipmi:bmc7.example.com:623"))
    assert upper == lower == "controller:ipmi:bmc7.example.com:623"
    ring = hash_ring.Ring(["cond-%d" % index for index in range(8)])
    assert ring.owner(upper) == ring.owner(lower)
