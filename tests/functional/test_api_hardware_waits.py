"""No API request thread waits on a controller that hangs.

Thirty Redfish BMCs that accept connections and never answer are acted on
through the real server (waitress, 16 threads). Power requests to them
must answer 202 at once (the supported-states check that asks the BMC runs
in the worker), synchronous calls to them may hold at most
``[api] hardware_wait_slots`` API threads (the rest are refused with 503
at once), and meanwhile listing nodes and powering fake nodes keep
answering. The bounds asserted here are generous (the machine is shared);
the figures are in benchmarks/api_hardware_waits.py.
"""

import concurrent.futures
import time

import pytest

from tests.fixtures.blackhole import BlackHole
from tests.functional import server_proc
from tests.waits import wait_for

HUNG = 30
SLOTS = 4


@pytest.fixture
def hung_bmcs():
    holes = [BlackHole("tcp") for _ in range(HUNG)]
    yield holes
    for hole in holes:
        hole.close()


@pytest.fixture
def server(tmp_path):
    proc = server_proc.ServerProcess(tmp_path, options={
        "api": {"hardware_wait_slots": SLOTS, "hardware_call_timeout": 120},
        "redfish": {"command_retry_timeout": 120},
    }).start()
    yield proc
    proc.kill()


def _timed(call, *args):
    begin = time.monotonic()
    status, body = call(*args)
    return status, time.monotonic() - begin


def test_hung_bmcs_never_hold_the_api(server, hung_bmcs):
    for i, hole in enumerate(hung_bmcs):
        status, _ = server.call("POST", "/v1/nodes", {
            "driver": "redfish", "name": "hung-%d" % i,
            "driver_info": {"redfish_address": "http://127.0.0.1:%d" % hole.port,
                            "redfish_username": "admin", "redfish_password": "pw"}})
        assert status == 201
    for i in range(5):
        assert server.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                 "name": "fake-%d" % i})[0] == 201

    with concurrent.futures.ThreadPoolExecutor(HUNG) as pool:
        power = list(pool.map(lambda i: _timed(
            server.call, "PUT", "/v1/nodes/hung-%d/states/power" % i,
            {"target": "power on"}), range(HUNG)))
    assert [status for status, _ in power] == [202] * HUNG
    assert max(elapsed for _, elapsed in power) < 10, power  # today: 30 s each, serialised
    # The workers really are stuck on the BMCs, not done already.
    wait_for(lambda: sum(hole.accepted > 0 for hole in hung_bmcs) >= 10, timeout=20,
             message="the workers to connect to the hung BMCs")

    # Synchronous calls to hung BMCs: SLOTS wait, the rest are refused at once.
    with concurrent.futures.ThreadPoolExecutor(HUNG) as pool:
        waiting = [pool.submit(server.call, "GET",
                               "/v1/nodes/hung-%d/management/boot_device" % i,
                               None, None, 300) for i in range(SLOTS + 6)]
        wait_for(lambda: sum(f.done() for f in waiting) >= 6, timeout=30,
                 message="the calls beyond the wait slots to be refused")
        time.sleep(0.5)  # anything else that was going to finish early has
        refused = [f.result() for f in waiting if f.done()]
        assert [status for status, _ in refused] == [503] * 6
        assert all("waiting on hardware" in body["error_message"] for _, body in refused)

        # Meanwhile the API answers everything that needs no hardware.
        for _ in range(10):
            status, elapsed = _timed(server.call, "GET", "/v1/nodes")
            assert status == 200 and elapsed < 2.0, elapsed
            status, elapsed = _timed(server.call, "GET", "/v1/nodes/detail")
            assert status == 200 and elapsed < 2.0, elapsed
        for i in range(5):
            status, elapsed = _timed(server.call, "PUT", "/v1/nodes/fake-%d/states/power" % i,
                                     {"target": "power on"})
            assert status == 202 and elapsed < 2.0, elapsed
        server.kill()  # ends the waiting calls; nothing to clean up on the BMC side
