"""Start-up of the ``hwdrivers`` CLI's local commands: time to ready, RSS.

Each run is a fresh interpreter running what the ``hwdrivers`` console
script runs (``hwdrivers.cmd.cli.main``) against a local SQLite database
holding N fake-hardware nodes, with the out-of-the-box set of drivers
enabled (no ``enabled_*`` options in the config file). Figures, per
command, median of several runs:

* ready: wall time from just before ``Popen`` to the moment the command's
  function is called -- arguments parsed, config loaded and checked, the
  local backend (schema check, conductor manager) built, about to act;
* CPU to ready: the process's user + system CPU time at that moment
  (steadier than wall time on a shared machine: it leaves out waiting
  for a core);
* RSS at ready: VmRSS from ``/proc/self/status`` at that moment;
* done: wall time from just before ``Popen`` to the process's exit;
* which heavy libraries (SQLAlchemy's ORM, alembic, Flask, sushy...) were
  imported by ready and by exit.

"Ready" is observed without touching the code under test: the child wraps
``argparse.ArgumentParser.parse_args`` so that the parsed namespace's
``func`` records the moment before it runs. The same probe measures
another tree (``--before``, default ``/tmp/before``, a pristine copy of
the code before a change) by putting it first on ``sys.path``; runs of
both trees are interleaved, so a noisy machine affects both alike.

Both trees are byte-compiled first (``compileall``), as ``pip install``
leaves an installed package: otherwise, under ``PYTHONDONTWRITEBYTECODE``
(set on the machines this was measured on) or in a read-only checkout,
every run recompiles hwdrivers' own ~60 modules from source, about 90 ms
that no installed CLI pays.

Beside the commands, the same loop measures floors: fresh interpreters
that import only what any such command must load before hwdrivers' own
code -- nothing, oslo.config (every command reads its config file), and
oslo.config with SQLAlchemy and its SQLite dialect (every command on the
database) -- with ``ready`` taken once those imports are done. The gap
between a command and its floor is what hwdrivers itself costs.

Target (issue 14): ready <= 0.3 s and RSS at ready <= 40 MB.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import common  # noqa: E402

#: label -> CLI arguments (after --config-file). Every command is local:
#: no --url, so it runs against the SQLite database or drives one machine.
COMMANDS = {
    "node list": ["node", "list"],
    "node show": ["node", "show", "bench-0"],
    "node power status": ["node", "power", "status", "bench-0"],
    "node power on": ["node", "power", "on", "bench-1"],
    "driver list": ["driver", "list"],
    "power status (one-shot)": ["power", "status", "--driver", "fake-hardware"],
}

#: floor label -> modules imported, nothing else: what a command of that kind
#: loads before any hwdrivers module (rows with the tree "floor").
FLOORS = {
    "floor: python": [],
    "floor: + oslo.config": ["oslo_config.cfg"],
    "floor: + oslo.config, SQLAlchemy": ["oslo_config.cfg", "sqlalchemy",
                                         "sqlalchemy.dialects.sqlite"],
}

#: Libraries a local command should not need to import (checked at ready
#: and at exit; shown in the last table).
HEAVY = ("sqlalchemy.orm", "sqlalchemy.dialects.postgresql", "alembic", "flask",
         "werkzeug", "sushy", "pysnmp", "pyghmi", "requests", "paramiko", "stevedore",
         "oslo_log", "asyncio", "ssl")

#: Both children's record of a moment: one JSON line appended to ``out_path``.
SNAPSHOT = r"""
import json, sys, time

def snapshot(event, out_path, heavy=()):
    with open("/proc/self/status") as status:
        rss = next(int(l.split()[1]) for l in status if l.startswith("VmRSS:"))
    loaded = [m for m in heavy if m in sys.modules]
    with open(out_path, "a") as out:
        cpu = time.process_time()
        out.write(json.dumps({"event": event, "t": time.monotonic(), "rss_kib": rss,
                              "cpu": cpu,
                              "modules": len(sys.modules), "heavy": loaded}) + "\n")
"""

#: The child: a probe around ``parse_args``, then the console script's main().
PROBE = SNAPSHOT + r"""
import argparse, os
tree, out_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, tree)
heavy = %(heavy)r

# parse_known_args: parse_args goes through it, and the CLI may call it alone.
_parse_known_args = argparse.ArgumentParser.parse_known_args

def parse_known_args(self, args=None, namespace=None):
    parsed, extra = _parse_known_args(self, args, namespace)
    func = getattr(parsed, "func", None)
    if self.prog == "hwdrivers" and func is not None:
        def ready(*a, **kw):
            snapshot("ready", out_path, heavy)
            return func(*a, **kw)
        parsed.func = ready
    return parsed, extra

argparse.ArgumentParser.parse_known_args = parse_known_args
from hwdrivers.cmd.cli import main
code = main(sys.argv[3:])
snapshot("exit", out_path, heavy)
sys.exit(code)
""" % {"heavy": HEAVY}

#: A floor: the given imports, then the same snapshot as PROBE's "ready".
FLOOR_PROBE = SNAPSHOT + r"""
import importlib
for name in sys.argv[2:]:
    importlib.import_module(name)
snapshot("ready", sys.argv[1])
"""

#: Enrolls the nodes through the tree's own code (its own schema version).
SETUP = r"""
import sys
sys.path.insert(0, sys.argv[1])
from hwdrivers.cmd import cli
cli.load_config([sys.argv[2]])
from hwdrivers.cli import local
backend = local.LocalBackend()
for index in range(int(sys.argv[3])):
    backend.node_create({"driver": "fake-hardware", "name": "bench-%d" % index})
"""


def child_env():
    """The environment minus what would point the CLI at a remote API."""
    env = dict(os.environ)
    for name in ("HWDRIVERS_URL", "HWDRIVERS_USERNAME", "HWDRIVERS_PASSWORD",
                 "PYTHONPROFILEIMPORTTIME"):
        env.pop(name, None)
    return env


def prepare(tree, workdir, nodes):
    """A config file and a database of ``nodes`` fake nodes for ``tree``."""
    os.makedirs(workdir)
    config = common.write_config(os.path.join(workdir, "hwdrivers.conf"), {
        "DEFAULT": {"state_path": workdir},
        "database": {"connection": "sqlite:///%s/hwdrivers.sqlite" % workdir},
    })
    subprocess.run([sys.executable, "-c", SETUP, tree, config, str(max(nodes, 2))],
                   cwd=workdir, env=child_env(), check=True, capture_output=True,
                   timeout=300)
    return config


def run_once(tree, workdir, config, argv):
    """One fresh CLI process: {ready s, rss MiB, done s, heavy at ready/exit}."""
    out_path = os.path.join(workdir, "probe.jsonl")
    return _measure([sys.executable, "-c", PROBE, tree, out_path, "--config-file", config]
                    + argv, workdir, out_path, " ".join(argv) + " (%s)" % tree)


def run_floor(workdir, modules):
    """One fresh interpreter importing ``modules`` only; the same figures."""
    out_path = os.path.join(workdir, "floor.jsonl")
    return _measure([sys.executable, "-c", FLOOR_PROBE, out_path] + modules, workdir,
                    out_path, "floor %s" % (" ".join(modules) or "python"))


def _measure(command, workdir, out_path, what):
    if os.path.exists(out_path):
        os.unlink(out_path)
    start = time.monotonic()
    proc = subprocess.run(command, cwd=workdir, env=child_env(), capture_output=True,
                          text=True, timeout=120)
    done = time.monotonic() - start
    events = {}
    if os.path.exists(out_path):
        with open(out_path) as lines:
            events = {e["event"]: e for e in map(json.loads, lines)}
    if proc.returncode != 0 or "ready" not in events:
        raise RuntimeError("%s failed, exit %s:\n%s%s" % (
            what, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
    ready = events["ready"]
    return {"ready": ready["t"] - start, "cpu": ready["cpu"],
            "rss": ready["rss_kib"] / 1024.0, "done": done,
            "modules": ready["modules"], "heavy_ready": ready["heavy"],
            "heavy_exit": events.get("exit", ready)["heavy"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=50, help="fake nodes enrolled")
    parser.add_argument("--repeat", type=int, default=7, help="runs per command and tree")
    parser.add_argument("--before", default="/tmp/before", metavar="TREE",
                        help="another checkout to measure interleaved (default: "
                             "%(default)s; '' or a missing directory: this tree only)")
    parser.add_argument("--after", default=ROOT, metavar="TREE",
                        help="the checkout measured as 'after' (default: this one)")
    parser.add_argument("--commands", default=",".join(COMMANDS),
                        help="comma-separated labels among: %s" % ", ".join(COMMANDS))
    args = parser.parse_args(argv)
    labels = [c.strip() for c in args.commands.split(",") if c.strip()]
    unknown = sorted(set(labels) - set(COMMANDS))
    if unknown:
        parser.error("--commands: unknown %s; choose among: %s"
                     % (", ".join(unknown), ", ".join(COMMANDS)))
    trees = common.compared_trees(args.before, args.after)
    results = {(tree, label): [] for tree, _ in trees for label in labels}
    results.update({("floor", label): [] for label in FLOORS})
    for _, path in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q",
                        os.path.join(path, "hwdrivers")], check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="hwbench-cli-") as tmp:
        configs = {tree: prepare(path, os.path.join(tmp, tree), args.nodes)
                   for tree, path in trees}
        floor_dir = os.path.join(tmp, "floor")
        os.makedirs(floor_dir)
        for _ in range(args.repeat):
            for label, modules in FLOORS.items():
                results[("floor", label)].append(run_floor(floor_dir, modules))
            for label in labels:
                for tree, path in trees:  # interleaved: before, after, before...
                    results[(tree, label)].append(run_once(
                        path, os.path.join(tmp, tree), configs[tree], COMMANDS[label]))

    def med(tree, label, key):
        return common.median([r[key] for r in results[(tree, label)]])

    measured = ([(label, "floor") for label in FLOORS]
                + [(label, tree) for label in labels for tree, _ in trees])
    rows = []
    for label, tree in measured:
        runs = results[(tree, label)]
        rows.append([label, tree, med(tree, label, "ready") * 1000,
                     min(r["ready"] for r in runs) * 1000, med(tree, label, "cpu") * 1000,
                     med(tree, label, "rss"),
                     med(tree, label, "done") * 1000, runs[-1]["modules"]])
    common.print_table(
        "CLI start-up, local commands (%d fake nodes, SQLite; median of %d fresh "
        "processes; trees and floors interleaved)" % (args.nodes, args.repeat),
        ["command", "tree", "ready ms (median)", "ready ms (min)", "CPU ms to ready",
         "RSS MiB at ready",
         "done ms", "modules at ready"], rows)
    if len(trees) == 2:
        common.print_table(
            "CLI start-up, after / before (medians)",
            ["command", "ready", "CPU to ready", "RSS", "done"],
            [[label] + ["%.2f" % (med("after", label, key) / med("before", label, key))
                        for key in ("ready", "cpu", "rss", "done")] for label in labels])
    common.print_table(
        "CLI start-up, heavy libraries imported (by ready / by exit, last run)",
        ["command", "tree", "imported by ready", "added by exit"],
        [[label, tree, " ".join(results[(tree, label)][-1]["heavy_ready"]) or "-",
          " ".join(sorted(set(results[(tree, label)][-1]["heavy_exit"])
                          - set(results[(tree, label)][-1]["heavy_ready"]))) or "-"]
         for label in labels for tree, _ in trees])
    return rows


if __name__ == "__main__":
    main()
