"""Per-operation overhead: acquire + validate + fake power + verify + release.

Drives ``ConductorManager.change_power_state`` on fake-hardware with no
delay, so what is measured is hwdrivers itself: the lease UPDATE, the node
reads and writes, validation, the driver call, verification and release.
One thread, then 8 threads over disjoint nodes, on SQLite and PostgreSQL.

Beside each backend the *raw floor*: the same database work written by
hand on the bare DB-API module (``sqlite3`` in WAL with
``synchronous=NORMAL``, or psycopg), on the same table and rows -- one
statement taking the lease, publishing the target and returning the row,
one recording the state and releasing, each its own transaction -- with
nothing else around it. The ratio to it is what hwdrivers itself costs.

Targets (issue 14): SQLite, one thread, <= 0.3 ms per operation and
<= 5x the floor; PostgreSQL, one thread, <= 1.2 ms; SQLite, 8 threads,
p99 <= 20 ms.
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.common import context as hw_context  # noqa: E402
from hwdrivers.conductor import manager as manager_mod  # noqa: E402
from hwdrivers.db import api as db_api  # noqa: E402

CTX = hw_context.get_admin_context()


def run_once(manager, node_ids, threads, ops_per_thread):
    latencies = [[] for _ in range(threads)]
    groups = [node_ids[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def worker(index):
        mine = groups[index]
        record = latencies[index]
        barrier.wait()
        for n in range(ops_per_thread):
            target = "power on" if (n // len(mine)) % 2 == 0 else "power off"
            start = time.perf_counter()
            manager.change_power_state(CTX, mine[n % len(mine)], target)
            record.append(time.perf_counter() - start)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    barrier.wait()
    for t in pool:
        t.join()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    flat = [x for lat in latencies for x in lat]
    return flat, wall, cpu


_LEASE = ("UPDATE nodes SET reservation = {p}, reservation_expires = {p}, "
          "target_power_state = {p}, last_error = NULL, updated_at = {p} WHERE id = {p} "
          "AND (reservation IS NULL OR reservation_expires IS NULL OR "
          "reservation_expires < {p}) RETURNING *")
_RECORD = ("UPDATE nodes SET power_state = {p}, target_power_state = NULL, updated_at = {p}, "
           "reservation = NULL, reservation_expires = NULL WHERE id = {p} AND "
           "reservation = {p}")


def raw_floor(backend, node_ids, ops):
    """Seconds per operation of the same two transactions on the bare DB-API."""
    import datetime

    from hwdrivers.db import engine as db_engine

    url = db_engine.get_engine().url
    if backend == "sqlite":
        import sqlite3
        conn = sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        mark = "?"

        def stamp(value):
            return value.isoformat(" ", "microseconds")

        def single(sql, params):
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(sql, params).fetchone()
            conn.execute("COMMIT")
            return row
    else:
        import psycopg
        # The same server, database, user and search_path (the private schema).
        conn = psycopg.connect(**{key: value for key, value in {
            "host": url.host, "port": url.port, "dbname": url.database, "user": url.username,
            "password": url.password, "options": url.query.get("options")}.items()
            if value is not None})
        mark = "%s"

        def stamp(value):
            return value

        conn.autocommit = True  # one statement per transaction, as hwdrivers runs them

        def single(sql, params):
            cursor = conn.execute(sql, params)
            return cursor.fetchone() if cursor.description else None
    lease, record = (sql.format(p=mark) for sql in (_LEASE, _RECORD))
    latencies = []
    for n in range(ops):
        node_id = node_ids[n % len(node_ids)]
        state = "power on" if (n // len(node_ids)) % 2 == 0 else "power off"
        start = time.perf_counter()
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        owner = "bench:%d" % n
        row = single(lease, (owner, stamp(now + datetime.timedelta(seconds=60)), state,
                             stamp(now), node_id, stamp(now)))
        assert row is not None, "the floor's lease was refused"
        single(record, (state, stamp(now), node_id, owner))
        latencies.append(time.perf_counter() - start)
    conn.close()
    return latencies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--ops", type=int, default=2000, help="operations per repetition")
    parser.add_argument("--threads", default="1,8")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    rows = []
    for backend in args.backends.split(","):
        common.configure(conductor__power_state_change_timeout=5)
        with common.database(backend) as ready:
            if ready is None:
                continue
            manager = manager_mod.ConductorManager()
            node_ids = [db_api.create_node({"driver": "fake-hardware"})["id"]
                        for _ in range(args.nodes)]
            manager.change_power_state(CTX, node_ids[0], "power on")  # warm up
            floors = [common.median(raw_floor(backend, node_ids, args.ops)) * 1e6
                      for _ in range(args.repeat)]
            floor = common.median(floors)
            rows.append([backend, "raw floor", floor, "-", "-", "-", 1.0])
            for threads in [int(t) for t in args.threads.split(",")]:
                medians, p99s, rates, cpus = [], [], [], []
                for _ in range(args.repeat):
                    lat, wall, cpu = run_once(manager, node_ids, threads,
                                              max(1, args.ops // threads))
                    medians.append(common.median(lat) * 1e6)
                    p99s.append(common.percentile(lat, 0.99) * 1e6)
                    rates.append(len(lat) / wall)
                    cpus.append(cpu / len(lat) * 1e6)
                rows.append([backend, threads, common.median(medians), common.median(p99s),
                             common.median(rates), common.median(cpus),
                             common.median(medians) / floor])
    common.print_table(
        "Operation overhead (fake power on/off, median of %d repetitions)" % args.repeat,
        ["backend", "threads", "median us/op", "p99 us/op", "ops/s", "CPU us/op",
         "x floor"], rows)
    return rows


if __name__ == "__main__":
    main()
