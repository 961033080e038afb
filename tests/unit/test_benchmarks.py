"""Every benchmark script runs at a tiny size and prints its table.

No timing is asserted (the machines are shared); what is asserted is that
each script completes, prints its table, and that the facts a benchmark
exists to prove hold — no PDU ever ran two commands at once, every node
was read, no request failed. Each script runs in its own interpreter, as
``run_all.py`` runs it, because benchmarks reconfigure the process.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_benchmark(module, *args, timeout=240):
    """Run ``benchmarks.<module>.main(args)``; returns (printed text, rows)."""
    code = ("import json, sys; from benchmarks import %s as b; "
            "rows = b.main(sys.argv[1:]); print('ROWS=' + json.dumps(rows))" % module)
    proc = subprocess.run([sys.executable, "-c", code] + [str(a) for a in args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text, _, rows = proc.stdout.rpartition("ROWS=")
    return text, json.loads(rows)


def table_columns(text, title):
    """The header cells of the table titled ``title`` (split on 2+ spaces)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(title):
            return [c for c in lines[index + 1].strip().split("  ") if c.strip()]
    raise AssertionError("no table %r in:\n%s" % (title, text))


def test_op_overhead_prints_both_thread_counts():
    text, rows = run_benchmark("op_overhead", "--nodes", 4, "--ops", 40, "--threads", "1,2",
                               "--repeat", 2, "--backends", "sqlite")
    columns = table_columns(text, "Operation overhead")
    assert [c.strip() for c in columns][:3] == ["backend", "threads", "median us/op"]
    assert [(r[0], r[1]) for r in rows] == [("sqlite", "raw floor"), ("sqlite", 1),
                                           ("sqlite", 2)]
    assert rows[0][2] > 0  # the floor, measured in the same run
    assert all(r[2] > 0 and r[4] > 0 and r[6] > 0 for r in rows[1:])  # latency, rate, ratio


def test_op_overhead_on_postgresql_uses_and_drops_a_private_schema():
    import sqlalchemy as sa
    from benchmarks import common
    admin = sa.create_engine(common.PG_ADMIN_URL, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        pytest.skip("PostgreSQL unreachable: %s" % str(exc).splitlines()[0])

    def bench_schemas():
        with admin.connect() as conn:
            return {r[0] for r in conn.execute(sa.text(
                "SELECT schema_name FROM information_schema.schemata "
                "WHERE schema_name LIKE :pattern"), {"pattern": "hwbench_%"})}

    try:
        text, rows = run_benchmark("op_overhead", "--nodes", 2, "--ops", 10, "--threads", 1,
                                   "--repeat", 1, "--backends", "postgresql")
        assert [(r[0], r[1]) for r in rows] == [("postgresql", "raw floor"), ("postgresql", 1)]
        # Its own schema, by name: other benchmarks' tests may run at the same time.
        used = set(re.findall(r"schema (hwbench_\w+) of its own", text))
        assert used and not used & bench_schemas()  # dropped after
    finally:
        admin.dispose()


def test_fleet_sync_reads_every_node_once():
    text, rows = run_benchmark("fleet_sync", "--nodes", 60, "--latency", 0.01,
                               "--concurrency", 20, "--repeat", 2)
    assert "Fleet power sync" in text
    (row,) = rows
    # nodes, concurrency, ..., read, in sync, recorded, failed
    assert row[1] == 60 and row[2] == 20
    assert row[9:] == [60, 60, 0, 0]
    assert row[5] == pytest.approx(60 * 0.01 / 20)  # the bound


def test_fairness_never_runs_two_commands_on_one_pdu():
    text, rows = run_benchmark("fairness", "--nodes", 40, "--pdus", 4, "--command-time", 0.005,
                               "--workers", 16, "--repeat", 1)
    columns = table_columns(text, "Per-controller fairness")
    assert "peak (measured)" in columns
    (row,) = rows
    nodes, pdus, commands = row[0], row[1], row[2]
    assert (nodes, pdus) == (40, 4)
    assert commands >= 2 * 10  # set + verify for each of a PDU's 10 nodes
    assert row[7] == 1 and row[8] == 1  # peak per PDU: limiter's and measured
    assert row[9] == 0  # no failed request


def test_api_throughput_against_a_real_server():
    text, rows = run_benchmark("api_throughput", "--requests", 12, "--clients", 4,
                               "--nodes", 30, "--repeat", 2)
    assert "API power requests" in text and "GET /v1/nodes/detail" in text
    power, listing = rows
    assert power[:2] == [12, 4]
    assert power[-1] == 0  # every request got its 202 and reached its state
    assert power[3] <= power[5]  # the 202 comes before the state is reached
    assert power[-2] > 0  # handing a request between threads switches them
    assert listing[:2] == [30, 30]  # every enrolled node listed


def test_api_hardware_waits_keeps_the_api_answering():
    text, rows = run_benchmark("api_hardware_waits", "--hung", 6, "--fakes", 4,
                               "--requests", 5, "--repeat", 1)
    assert "hung BMCs being acted on" in text
    assert [r[0] for r in rows] == ["quiet", "hung"]
    assert all(r[1] == 5 and r[6] == 0 for r in rows)  # every probe answered, none failed


def test_startup_memory_enables_every_in_tree_driver():
    from benchmarks import startup_memory
    drivers = startup_memory.in_tree_drivers()
    assert {"fake-hardware", "ipmi", "redfish", "snmp"} <= set(
        drivers["enabled_hardware_types"])
    assert "ipmitool" in drivers["enabled_power_interfaces"]
    text, rows = run_benchmark("startup_memory", "--nodes", 30, "--repeat", 1)
    assert "start-up" in text and "resident memory" in text
    (row,) = rows
    nodes, to_serve, serving, synced, peak = row
    assert nodes == 30 and to_serve > 0
    assert 0 < serving <= peak and 0 < synced <= peak


def test_cli_startup_measures_each_command_to_ready():
    """Fresh CLI processes reach ready and report; --before '' measures this tree only."""
    text, rows = run_benchmark("cli_startup", "--nodes", 2, "--repeat", 1, "--before", "",
                               "--commands", "node list,power status (one-shot)")
    assert "CLI start-up, local commands" in text and "heavy libraries" in text
    floors = ["floor: python", "floor: + oslo.config", "floor: + oslo.config, SQLAlchemy"]
    assert [r[:2] for r in rows] == [[f, "floor"] for f in floors] + [
        ["node list", "after"], ["power status (one-shot)", "after"]]
    for _label, _tree, ready, fastest, cpu, rss, done, modules in rows:
        assert 0 < fastest <= ready <= done and cpu > 0 and rss > 0 and modules > 0
    # Each floor loads more than the one before; a command more than its floor.
    by_label = {r[0]: r for r in rows}
    rss = [by_label[f][5] for f in floors]
    assert rss[0] < rss[1] < rss[2] < by_label["node list"][5]
    assert by_label[floors[1]][7] < by_label["power status (one-shot)"][7]
    # Pointed at a second tree, the runs are interleaved and compared.
    text, rows = run_benchmark("cli_startup", "--nodes", 2, "--repeat", 1, "--before", ROOT,
                               "--commands", "driver list")
    assert [r[:2] for r in rows if r[1] != "floor"] == [["driver list", "before"],
                                                        ["driver list", "after"]]
    assert "after / before" in text


def test_ipmi_overhead_reads_every_fake_bmc_both_ways():
    if shutil.which("ipmitool") is None:
        pytest.skip("ipmitool is not installed (Debian: apt install ipmitool)")
    text, rows = run_benchmark("ipmi_overhead", "--bmcs", 3, "--concurrency", 2,
                               "--repeat", 1)
    assert "IPMI power status" in text
    bare, exact, driver = rows
    assert [r[0] for r in rows] == ["bare ipmitool", "bare, driver's flags",
                                    "ipmi driver sync"]
    assert bare[1] == exact[1] == driver[1] == 3  # every BMC read by the sync
    assert bare[-1] == exact[-1] == driver[-1] == 0  # no failure on any path


def _postgresql_or_skip():
    import sqlalchemy as sa
    from benchmarks import common
    admin = sa.create_engine(common.PG_ADMIN_URL, connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        pytest.skip("PostgreSQL unreachable: %s" % str(exc).splitlines()[0])
    finally:
        admin.dispose()


def test_scale_out_sync_reads_each_node_once_across_conductors():
    _postgresql_or_skip()
    text, rows = run_benchmark("scale_out_sync", "--nodes", 200, "--conductors", 2,
                               "--latency", 0.01, "--workers", 10)
    assert "Scale-out power sync" in text
    (row,) = rows
    assert row[:3] == [200, 2, 10]
    assert row[8] == 200 and row[10] == 0  # every node read once in all, none failed
    assert sum(int(n) for n in row[9].split("/")) == 200 and "/0" not in row[9]


def test_scale_out_read_cost_measures_each_way():
    if shutil.which("ipmitool") is None:
        pytest.skip("ipmitool is not installed (Debian: apt install ipmitool)")
    text, rows = run_benchmark("scale_out_read_cost", "--bmcs", 3, "--redfish-nodes", 3,
                               "--repeat", 1)
    assert "CPU per power-state read" in text
    assert [r[0] for r in rows] == ["ipmitool (process per read)",
                                    "pyghmi (session kept open)", "sushy (HTTP, kept-alive)"]
    assert all(r[1] == 3 and r[4] > 0 and r[6] == 0 for r in rows)
    assert rows[0][3] > 0  # ipmitool's own processes are counted


def test_scale_out_api_through_two_api_processes():
    _postgresql_or_skip()
    text, rows = run_benchmark("scale_out_api", "--requests", 10, "--clients", 4,
                               "--nodes", 10, "--repeat", 1)
    assert "single process vs scaled out" in text
    single, split = rows
    assert single[1:3] == split[1:3] == [10, 4]
    assert single[8] == split[8] == 0  # every request accepted and its state reached


def test_deploy_fleet_deploys_every_simulated_node():
    """Every node reaches active (wait_state fails otherwise) and the agents ran."""
    text, rows = run_benchmark("deploy_fleet", "--small")
    assert rows[0]["nodes"] == 4 and rows[0]["deploys_per_min"] > 0
    assert rows[0]["agent_peak_mib"] > 0 and rows[0]["conductor_peak_mib"] > 0
    assert "agent peak RSS MiB" in table_columns(
        text, "Fleet deploy (all at once, iPXE + hwdrivers-agent, raw image)")


def test_run_all_lists_every_script():
    from benchmarks import run_all
    scripts = {name for name, _, _ in run_all.BENCHMARKS}
    on_disk = {name for name in os.listdir(os.path.join(ROOT, "benchmarks"))
               if name.endswith(".py") and not name.startswith("_")  # helpers
               and name not in ("common.py", "run_all.py")}
    assert scripts == on_disk  # every benchmark is run by tox -e bench, and exists


def test_server_side_by_side_measures_both_http_servers():
    """One pair: the same server under waitress, then granian; both serve every request."""
    code = ("import json, sys; from benchmarks import api_server_side_by_side as b; "
            "rows = b.main(sys.argv[1:]); print('ROWS=' + json.dumps(rows))")
    proc = subprocess.run([sys.executable, "-c", code, "--nodes", "60", "--requests", "40",
                           "--clients", "5", "--repeat", "1", "--pairs", "1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(proc.stdout.rpartition("ROWS=")[2])
    assert [row[0] for row in rows] == ["waitress", "granian"]
    for row in rows:
        assert row[1] > 0 and row[5] == 0  # served, no failure
