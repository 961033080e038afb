"""One power action over many nodes: select, run in parallel, report the failures.

``hwdrivers node power on --all --driver ipmi`` (or ``--name-glob 'rack1-*'``,
``--file nodes.txt``) runs the same backend call as the single-node command
for each node, from a small thread pool. Each call goes through the same
queues as any other: the server's worker pool and per-controller queues
(``--url``: 202 then a poll of the node's states), or the local conductor's
per-controller limiter, so a PDU still sees one command at a time however
many of its outlets are asked for at once.

On a terminal a progress bar (rich) shows how far it got; otherwise one
plain line per node, so logs and CI output stay readable. The failures are
summed up in one table at the end, and the command exits non-zero if any
node failed.
"""

import concurrent.futures
import fnmatch
import sys
import threading

from hwdrivers.common import exception

#: Nodes acted on at once; the server and the controller queues bound the rest.
DEFAULT_PARALLEL = 16


class BulkFailed(exception.HWDriversError):
    """Some nodes of a bulk action failed (the table above lists them)."""

    fmt = "%(failed)d of %(total)d nodes failed"


def read_node_file(path):
    """Node names or UUIDs, one a line; blank lines and ``#`` comments skipped."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise exception.InvalidParameterValue(
            "--file %s cannot be read: %s" % (path, exc.strerror)) from None
    idents = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text and text not in idents:
            idents.append(text)
    if not idents:
        raise exception.InvalidParameterValue(
            "--file %s names no node (one name or UUID a line)" % path)
    return idents


def select(backend, all_nodes=False, driver=None, name_glob=None, path=None):
    """The node identifiers a bulk action applies to, in a stable order.

    ``--file`` names nodes explicitly (``--driver`` / ``--name-glob`` then
    narrow it); otherwise every node (``--all``), optionally of one driver,
    whose name matches ``--name-glob``.
    """
    if not (all_nodes or name_glob or path):
        raise exception.InvalidParameterValue(
            "give a NODE, or choose nodes with --all, --name-glob PATTERN or --file PATH")
    wanted = read_node_file(path) if path else None
    if wanted is not None and not (driver or name_glob):
        return wanted
    nodes = backend.node_list({"driver": driver} if driver else None)
    matching = [n for n in nodes if not name_glob or (
        n.get("name") and fnmatch.fnmatchcase(n["name"], name_glob))]
    if wanted is None:
        chosen = [n.get("name") or n["uuid"] for n in matching]
    else:
        # In the file's order; a name no node has is kept, to be reported as
        # not found rather than silently skipped.
        selected = {}
        for n in matching:
            selected[n["uuid"]] = selected[n.get("name")] = n.get("name") or n["uuid"]
        everything = backend.node_list(None) if driver else nodes
        known = {n.get("name") for n in everything} | {n["uuid"] for n in everything}
        chosen = []
        for ident in wanted:
            pick = selected.get(ident) or (ident if ident not in known else None)
            if pick and pick not in chosen:
                chosen.append(pick)
    if not chosen:
        raise exception.InvalidParameterValue(
            "no node matches%s%s%s" % (" --driver %s" % driver if driver else "",
                                       " --name-glob %r" % name_glob if name_glob else "",
                                       " --file %s" % path if path else ""))
    return chosen


class _Progress:
    """A rich progress bar on a terminal; one line per node otherwise."""

    def __init__(self, total, label, stream):
        self.stream = stream
        self.total = total
        self.done = 0
        self._lock = threading.Lock()
        self._bar = None
        if getattr(stream, "isatty", lambda: False)():
            from rich import progress
            from rich.console import Console
            self._bar = progress.Progress(
                progress.TextColumn("{task.description}"), progress.BarColumn(),
                progress.MofNCompleteColumn(), progress.TimeElapsedColumn(),
                console=Console(file=stream), transient=False)
            self._task = self._bar.add_task(label, total=total)

    def __enter__(self):
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False

    def advance(self, ident, outcome):
        with self._lock:
            self.done += 1
            if self._bar is not None:
                self._bar.advance(self._task)
            else:
                self.stream.write("[%d/%d] %s: %s\n" % (self.done, self.total, ident, outcome))
                self.stream.flush()


def run(idents, action, label, parallel=DEFAULT_PARALLEL, stream=None):
    """``action(ident)`` for each node in parallel; ``[{node, result, error}]`` in order."""
    stream = stream or sys.stderr
    results = {}
    workers = max(1, min(parallel, len(idents)))
    with _Progress(len(idents), label, stream) as progress, \
            concurrent.futures.ThreadPoolExecutor(workers, "hwdrivers-bulk") as pool:
        futures = {pool.submit(action, ident): ident for ident in idents}
        for future in concurrent.futures.as_completed(futures):
            ident = futures[future]
            try:
                value = future.result()
            except exception.HWDriversError as exc:
                results[ident] = {"node": ident, "result": "failed", "error": str(exc)}
            else:
                state = value.get("power_state") if isinstance(value, dict) else value
                results[ident] = {"node": ident, "result": state, "error": None}
            progress.advance(ident, results[ident]["error"] or results[ident]["result"])
    return [results[ident] for ident in idents]
