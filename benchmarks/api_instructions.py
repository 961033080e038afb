"""Instructions per API request, counted by callgrind: a figure a shared machine cannot blur.

On the shared 2-core machines this project is measured on, the same tree
served 590 to 885 power requests/s in back-to-back runs of
``api_throughput.py``, and its CPU per request moved as much: a change
worth 5% cannot be told from the neighbours. ``valgrind --tool=callgrind``
counts the instructions a process executes, not the time they take, and
gives the same count for the same code and input however busy the machine
is. So this benchmark counts, per request:

* ``power cycle``: ``PUT /v1/nodes/<node>/states/power`` answered 202, the
  conductor worker running the fake power change to its end (lease and
  target in one statement, act, verify, record and release in another),
  then ``GET /v1/nodes/<node>/states`` reading the outcome -- what one
  client of ``api_throughput.py`` makes the server do per node;
* ``GET states``: the poll alone;
* ``detail page``: ``GET /v1/nodes/detail`` at the latest microversion, one
  page listing every node (``--nodes``, up to 1,000): divide by the nodes
  for the cost of one node in a listing.

What is counted: the WSGI application in one process (the fast path, the
conductor manager, its worker thread, SQLite in WAL with the server's
settings, the access-log line written at INFO), every thread, user space.
Not counted: the HTTP server (a socket, granian's Rust threads), the
kernel, and the thread switches a loaded server pays for -- the wall-clock
benchmarks show those. A figure here is what a change to hwdrivers' own
request path saves or costs, to within a fraction of a percent.

Method: each tree runs under callgrind after the same set-up (a migrated
database of N nodes, warm-up requests), with A requests and with B;
``(instructions_B - instructions_A) / (B - A)`` is the cost of one
request, interpreter start and set-up cancelled out. The children run
with ``PYTHONHASHSEED=0`` (``--hash-seed``): with Python's random string
hashing, identical runs differed by up to tens of millions of
instructions (dict layouts and collisions change with the seed); with a
fixed seed, four identical runs of 3.2 billion instructions agreed to
within 150 thousand. Each count is the median of ``--repeat`` runs, two
at a time on two cores. ``--before TREE`` counts another checkout (a
pristine copy of the code before a change) the same way, for a ratio.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402

#: The child: set up, warm up, then N requests of one kind. Run with the
#: measured tree first on sys.path (this checkout's benchmarks after it).
CHILD = r"""
import io, json, logging, os, shutil, sys, tempfile
tree, root, mode = sys.argv[1:4]
count, nodes = int(sys.argv[4]), int(sys.argv[5])
sys.path[:0] = [tree, root]
from benchmarks import common
from hwdrivers.api import app as app_mod
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import workers as workers_mod
from hwdrivers.db import engine as db_engine
from hwdrivers.db import migration
import hwdrivers
assert hwdrivers.__file__.startswith(os.path.join(tree, "")), hwdrivers.__file__

tmp = tempfile.mkdtemp(prefix="hwbench-instr-")
common.configure(database__connection="sqlite:///%s/api.sqlite" % tmp, state_path=tmp)
# The server's log line, at the server's level, written (to nowhere).
root_logger = logging.getLogger()
for handler in list(root_logger.handlers):
    root_logger.removeHandler(handler)
handler = logging.StreamHandler(open(os.devnull, "w"))
from hwdrivers.cmd import startup
handler.setFormatter(logging.Formatter(getattr(  # older trees: the same literal
    startup, "LOG_FORMAT", "%(asctime)s %(levelname)s %(name)s: %(message)s")))
root_logger.addHandler(handler)
root_logger.setLevel(logging.INFO)
migration.upgrade()
common.bulk_create_nodes(nodes, power_state="power off")


class Service:
    def __init__(self):
        self.manager = manager_mod.ConductorManager(workers=workers_mod.WorkerPool(8))


service = Service()
pool = service.manager.workers
app = app_mod.create_app(service)
statuses = {}


def call(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else b""
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
        "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "6385",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:6385", "HTTP_ACCEPT": "application/json",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False, "wsgi.version": (1, 0)}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    if body is not None:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(data))

    def start_response(status, headers, exc_info=None):
        code = int(status.split()[0])
        statuses[code] = statuses.get(code, 0) + 1

    result = app(environ, start_response)
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def wait_idle():
    if hasattr(pool, "wait_idle"):
        assert pool.wait_idle(60)
    else:  # a tree from before WorkerPool.wait_idle
        with pool._lock:
            assert pool._idle.wait_for(lambda: pool.busy == 0, 60)


targets = ("power on", "power off")


def power_cycle(index):
    name = "bench-%06d" % (index % nodes)
    target = targets[(index // nodes) % 2]
    call("PUT", "/v1/nodes/%s/states/power" % name, {"target": target})
    wait_idle()
    states = json.loads(call("GET", "/v1/nodes/%s/states" % name))
    assert states["power_state"] == target and not states["target_power_state"], states


def get_states(index):
    call("GET", "/v1/nodes/bench-%06d/states" % (index % nodes))


def detail_page(index):
    # What `baremetal node list --long` asks: the latest version, every node.
    page = json.loads(call("GET", "/v1/nodes/detail",
                           headers={"X-OpenStack-Ironic-API-Version": "latest"}))
    assert len(page["nodes"]) == min(nodes, 1000), len(page["nodes"])


run = {"power": power_cycle, "get": get_states, "detail": detail_page}[mode]
call("GET", "/v1")  # Flask learns the Host; then the fast path answers
# Warm-up: every node through a power cycle twice, or two pages for a listing
# (its nodes are enrolled powered off; cycling 1,000 of them would only add
# run-to-run spread, the warm-up's thread hand-offs, to the difference).
for index in range(2 if mode == "detail" else 2 * nodes):
    (detail_page if mode == "detail" else power_cycle)(index)
for index in range(count):
    run(index)
db_engine.dispose()
pool.shutdown(wait=True, timeout=60)
shutil.rmtree(tmp, ignore_errors=True)
print(json.dumps(statuses))
"""

MODES = (("power cycle", "power"), ("GET states", "get"), ("detail page", "detail"))
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def count_instructions(tree, mode, requests, nodes, hash_seed="0"):
    """Instructions callgrind counted for one child; its HTTP statuses."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, "-c", CHILD, tree, ROOT, mode, str(requests), str(nodes)]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED=hash_seed)
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)
    match = _COLLECTED.search(proc.stderr)
    if proc.returncode != 0 or match is None:
        raise RuntimeError("callgrind run failed (%s):\n%s\n%s"
                           % (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:]))
    return int(match.group(1)), json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", default="100,600",
                        help="A,B: requests in the two runs of each tree (default 100,600)")
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--before", default="",
                        help="another checkout counted the same way (default: none)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per count and tree; the median is used (default 1)")
    parser.add_argument("--hash-seed", default="0",
                        help="PYTHONHASHSEED of the runs (default 0; 'random' for Python's)")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind runs at once")
    parser.add_argument("--modes", default=",".join(label for label, _ in MODES),
                        help="comma-separated among: %s" % ", ".join(name for name, _ in MODES))
    args = parser.parse_args(argv)
    low, high = (int(x) for x in args.requests.split(","))
    if not 0 <= low < high:
        parser.error("--requests A,B needs 0 <= A < B, got %r" % args.requests)
    wanted = [m.strip() for m in args.modes.split(",")]
    modes = [(label, mode) for label, mode in MODES if label in wanted]
    if len(modes) != len(wanted):
        parser.error("--modes: choose among %s" % ", ".join(name for name, _ in MODES))
    trees = [("after", ROOT)]
    if args.before:
        if not os.path.isdir(os.path.join(args.before, "hwdrivers")):
            parser.error("--before %s: no hwdrivers package there" % args.before)
        trees.insert(0, ("before", os.path.abspath(args.before)))
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing counted (apt-get install valgrind)")
        return []
    print("before: %s" % common.machine())
    rows = []
    for label, mode in modes:
        per_request = {}
        for name, tree in trees:
            runs = [(tree, mode, requests, args.nodes, args.hash_seed)
                    for _ in range(args.repeat) for requests in (low, high)]
            with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
                results = list(pool.map(lambda run: count_instructions(*run), runs))
            counts = {low: [], high: []}
            for (_, _, requests, _, _), (instructions, statuses) in zip(runs, results):
                bad = {code: n for code, n in statuses.items() if int(code) >= 300}
                if bad:
                    raise RuntimeError("%s %s: unexpected statuses %s" % (name, label, bad))
                counts[requests].append(instructions)
            spread = max(max(c) - min(c) for c in counts.values()) / (high - low)
            per_request[name] = ((common.median(counts[high]) - common.median(counts[low]))
                                 / (high - low))
            rows.append([label, name, per_request[name] / 1000.0, spread / 1000.0,
                         per_request[name] / per_request.get("before", per_request[name])])
    common.print_table(
        "API request path, instructions per request (callgrind, user space; %d-%d requests, "
        "median of %d)" % (low, high, args.repeat),
        ["request", "tree", "k instructions", "runs' spread", "x before"], rows)
    print("after: %s" % common.machine())
    return rows


if __name__ == "__main__":
    main()
