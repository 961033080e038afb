"""The API under waitress (hwdrivers-server) and under granian, side by side.

Issue 14 asks for 1,000 power requests/s from 50 clients with p99 to the
202 <= 50 ms, and, before another HTTP server is chosen, for it to be
measured side by side. This runs the same load as ``api_throughput.py``
(50 clients: ``PUT .../states/power`` then ``GET .../states`` every 20 ms
until reached; then the first ``GET /v1/nodes/detail`` page) against:

* ``waitress``: ``hwdrivers-server`` as it ships;
* ``granian``: the same conductor service and WSGI app (auth, fast path,
  Flask) built by :func:`granian_app` inside the one worker process
  granian spawns, served by granian's Rust HTTP server with ``--threads``
  blocking threads.

The two alternate, each on a fresh SQLite database of N fake nodes.
Server CPU per request is read from ``/proc`` for the server process and
its children (granian's supervisor and worker).

This is a measurement, not a way to run hwdrivers: the granian side has
none of ``hwdrivers-server``'s start-up checks, listener errors, PDUDaemon
listener or graceful stop (its worker is killed at the end). Adopting
granian means moving those into its worker (doc/performance.md §4).

granian is not a dependency of hwdrivers. ``--install-granian DIR`` makes
a virtualenv at DIR with granian and a ``.pth`` file pointing at this
interpreter's packages and this tree, so the worker imports hwdrivers
exactly as installed here; ``--granian-python`` (default
``$HWDRIVERS_GRANIAN_PYTHON``) names such an interpreter. Without either,
waitress alone is measured, and the script says how to add granian.
"""

import argparse
import os
import subprocess
import sys
import sysconfig
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import api_throughput  # noqa: E402
from benchmarks import common  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRANIAN_VERSION = "2.8.9"
CONFIG_ENV = "HWBENCH_GRANIAN_CONFIG"
GRANIAN_PYTHON_ENV = "HWDRIVERS_GRANIAN_PYTHON"


def granian_app():
    """granian's ``--factory`` target: the conductor service and its API, in the worker."""
    from hwdrivers import conf
    from hwdrivers.api import app as app_mod
    from hwdrivers.api import auth
    from hwdrivers.cmd import server as server_mod
    from hwdrivers.cmd import startup

    startup.load_config(["--config-file", os.environ[CONFIG_ENV]], "granian-bench")
    startup.prepare_database()
    service = server_mod.make_service(conf.CONF)
    app = auth.wrap(app_mod.create_app(service, conf.CONF), conf.CONF)
    service.start()
    startup.freeze_startup_heap()
    return app


def install_granian(directory):
    """A venv at ``directory`` with granian, seeing this interpreter's packages; its python."""
    python = os.path.join(directory, "bin", "python")
    if not os.path.exists(python):
        print("Creating the virtualenv %s" % directory, flush=True)
        subprocess.run([sys.executable, "-m", "venv", directory], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "granian==%s" % GRANIAN_VERSION], check=True)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True,
                          text=True).stdout.strip()
    with open(os.path.join(site, "hwdrivers-bench.pth"), "w") as pth:
        pth.write("%s\n%s\n" % (sysconfig.get_paths()["purelib"], ROOT))
    return python


def check_granian(python):
    """The granian version ``python`` imports with hwdrivers; SystemExit saying how if not."""
    try:
        proc = subprocess.run([python, "-c", "import granian, hwdrivers; "
                               "print(granian.__version__)"], capture_output=True, text=True,
                              timeout=60)
    except OSError as error:
        raise SystemExit("cannot run %s (%s); give --install-granian DIR to make one"
                         % (python, error.strerror or error)) from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit("%s cannot import granian and hwdrivers (%s); give "
                         "--install-granian DIR to make such a virtualenv" % (python, last))
    return proc.stdout.strip()


def run_server(kind, args, granian_python):
    """One server on a fresh database: its figures as a row."""
    with tempfile.TemporaryDirectory(prefix="hwbench-%s-" % kind) as tmp:
        config, port = api_throughput.prepare(tmp, args.nodes,
                                              {"api": {"threads": args.threads}})
        if kind == "waitress":
            command, env = None, None
        else:
            command = [granian_python, "-m", "granian", "--interface", "wsgi", "--factory",
                       "--workers", "1", "--blocking-threads", str(args.threads),
                       "--host", "127.0.0.1", "--port", str(port), "--no-ws",
                       "--log-level", "warning",
                       "benchmarks.api_server_side_by_side:granian_app"]
            env = dict(os.environ, **{CONFIG_ENV: config})
            env["PYTHONPATH"] = os.pathsep.join(
                [ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
        with common.Server(config, port, os.path.join(tmp, "server.log"),
                           command=command, env=env) as server:
            server.wait_serving()
            names = ["bench-%06d" % i for i in range(args.requests)]
            runs = []
            for rep in range(args.repeat):
                cpu0 = server.cpu_seconds(children=True)
                accepted, _, wall, failures, polls = api_throughput.power_run(
                    port, names, "power on" if rep % 2 == 0 else "power off",
                    args.clients, 0.02)
                cpu = server.cpu_seconds(children=True) - cpu0
                runs.append((len(accepted) / wall,
                             common.percentile(accepted, 0.99) * 1000 if accepted else 0,
                             cpu / max(1, len(accepted)) * 1000,
                             polls / max(1, len(accepted)), len(failures)))
            first = api_throughput.list_detail(port)[0]
    return [kind, common.median([r[0] for r in runs]), common.median([r[1] for r in runs]),
            common.median([r[2] for r in runs]), common.median([r[3] for r in runs]),
            sum(r[4] for r in runs), first * 1000]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="power runs per server start")
    parser.add_argument("--pairs", type=int, default=3, help="waitress/granian alternations")
    parser.add_argument("--threads", type=int, default=8,
                        help="[api] threads for waitress, --blocking-threads for granian")
    parser.add_argument("--granian-python", metavar="PATH",
                        default=os.environ.get(GRANIAN_PYTHON_ENV),
                        help="an interpreter that imports granian and hwdrivers "
                             "(default: $%s)" % GRANIAN_PYTHON_ENV)
    parser.add_argument("--install-granian", metavar="DIR",
                        help="make (or check) such a virtualenv at DIR and use it")
    args = parser.parse_args(argv)
    if args.requests > args.nodes:
        parser.error("--requests (%d) must not exceed --nodes (%d)"
                     % (args.requests, args.nodes))
    python = (install_granian(args.install_granian) if args.install_granian
              else args.granian_python)
    if python:
        kinds = ("waitress", "granian")
        print("before: %s; granian %s" % (common.machine(), check_granian(python)),
              flush=True)
    else:
        kinds = ("waitress",)
        print("before: %s\ngranian not measured: give --install-granian DIR (a virtualenv "
              "with granian is made there) or --granian-python PATH ($%s); granian is not "
              "a dependency of hwdrivers" % (common.machine(), GRANIAN_PYTHON_ENV), flush=True)
    rows = []
    for pair in range(args.pairs):
        for kind in kinds:
            row = run_server(kind, args, python)
            print("  pair %d/%d %-8s %7.1f req/s, p99 to the 202 %6.1f ms, %.2f ms CPU/req"
                  % (pair + 1, args.pairs, kind, row[1], row[2], row[3]), flush=True)
            rows.append(row)
    common.print_table(
        "API power requests under waitress and granian (%d clients, %d nodes, %d threads; "
        "median of %d runs per start, every start listed)"
        % (args.clients, args.nodes, args.threads, args.repeat),
        ["server", "req/s", "p99 202 ms", "server CPU ms/req", "GETs/req", "failures",
         "detail first page ms"], rows)
    print("after: %s" % common.machine())
    return rows


if __name__ == "__main__":
    main()
