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

Ctrl-C stops any further node from starting at once. Locally the nodes in
flight are waited for (their actions run in this process, hold the nodes'
locks and record their outcome; a second Ctrl-C stops waiting, and the
command releases those nodes' locks and clears their targets as it leaves); over HTTP
they are left to the server, which carries them on. Then every node's
outcome -- its new state, failed, not started, abandoned -- is printed and
the command exits 130, so the operator knows which nodes to run again.
"""

import fnmatch
import os
import queue
import sys
import threading
import uuid

from hwdrivers.cli import output
from hwdrivers.common import exception

#: Nodes acted on at once; the server and the controller queues bound the rest.
DEFAULT_PARALLEL = 16
#: The most nodes acted on at once: one thread each, so --parallel 100000 over
#: a 100,000-node selection started 100,000 threads (and failed when the
#: system refused one), where the server's workers and the per-controller
#: queues bound the actions a far smaller number can keep busy.
MAX_PARALLEL = 1000


class BulkFailed(exception.HWDriversError):
    """Some nodes of a bulk action failed (the table above lists them)."""

    fmt = "%(failed)d of %(total)d nodes failed"


def read_node_file(path):
    """Node names or UUIDs, one a line; blank lines and ``#`` comments skipped.

    ``-`` reads them from standard input (after the API password of
    ``--password-stdin``), for ``hwdrivers node list -f value -c name | grep
    rack1 | hwdrivers node power off --file -``.
    """
    if path == "-":
        if sys.stdin is None:
            raise exception.InvalidParameterValue(
                "--file -: standard input is closed; give the nodes on it, one a line")
        # Read as text it may hold surrogates (bytes that are not UTF-8):
        # back to those bytes, to be refused as a file's are.
        data = sys.stdin.read().encode("utf-8", "surrogateescape")
        path = "- (standard input)"
    else:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise exception.InvalidParameterValue(
                "--file %s cannot be read: %s" % (path, exc.strerror)) from None
    try:
        # utf-8-sig: a file saved by a Windows editor or a spreadsheet starts
        # with a byte-order mark, which made its first node "\ufeffnode1".
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise exception.InvalidParameterValue(
            "--file %s is not UTF-8 text (line %d holds a byte that does not decode); "
            "save it as UTF-8" % (path, exc.object[:exc.start].count(b"\n") + 1)) from None
    # A dict keeps the file's order and drops repeats in one pass (a list's
    # "not in" made a file of 100,000 nodes take minutes before any started).
    idents = list(dict.fromkeys(
        text for text in (line.split("#", 1)[0].strip() for line in lines) if text))
    if not idents:
        raise exception.InvalidParameterValue(
            "--file %s names no node (one name or UUID a line)" % path)
    return idents


def _canonical(ident):
    """A UUID in its stored spelling (lower case, dashes), anything else as given."""
    try:
        return str(uuid.UUID(ident))
    except ValueError:
        return ident


def one_per_node(backend, idents):
    """``idents`` with a node named twice (by its name and by its UUID, in
    any case) kept once, as first named; a name no node has is kept as
    given, to be reported as not found.

    ``node delete db1 <db1's UUID>`` deleted db1, then failed on the UUID
    ("could not be found") and exited 1, though all it was asked was done.
    Each name is looked up alone, as the delete will be: a few names must
    not read the whole fleet.
    """
    chosen = {}
    for ident in idents:
        try:
            key = backend.node_show(ident)["uuid"]
        except exception.HWDriversError:  # no such node (or unreadable): its delete says
            key = ident
        chosen.setdefault(key, ident)
    return list(chosen.values())


def select(backend, all_nodes=False, driver=None, name_glob=None, path=None):
    """The node identifiers a bulk action applies to, in a stable order.

    ``--file`` names nodes explicitly (``--driver`` / ``--name-glob`` then
    narrow it); otherwise every node (``--all``), optionally of one driver,
    whose name matches ``--name-glob``. A node is named once (by its name,
    or its UUID when it has none), however the file names it.
    """
    if not (all_nodes or name_glob or path):
        raise exception.InvalidParameterValue(
            "give a NODE, or choose nodes with --all, --name-glob PATTERN or --file PATH")
    wanted = read_node_file(path) if path else None
    # A file is resolved against the nodes too, even alone: a node named
    # there twice, by its name and by its UUID, ran twice at once, and the
    # second failed on the first one's lock.
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
        picks = (selected.get(ident) or (ident if ident not in known else None)
                 for ident in map(_canonical, wanted))
        chosen = list(dict.fromkeys(pick for pick in picks if pick))
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

    def _write(self, text):
        """One line on the stream; a reader that left ends the progress, not the work.

        ``hwdrivers node power on --all 2>&1 | grep -m1 failed``: the
        reader goes after its first line, and the next progress line raised
        BrokenPipeError in the main thread, which left at once with the
        nodes in flight still locked, their targets shown, and the other
        nodes never started. The nodes asked for are more than the lines
        about them: every node still runs, and the command's exit status
        says how it went.
        """
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # EPIPE; or ENOSPC, EIO: the lines are lost, not the nodes
            silence(self.stream)

    def advance(self, ident, outcome):
        with self._lock:
            self.done += 1
            if self._bar is not None:
                self._bar.advance(self._task)
            else:
                self._write(output.printable(
                    "[%d/%d] %s: %s" % (self.done, self.total, ident, outcome)) + "\n")

    def note(self, text):
        """A line for the operator, above the bar on a terminal."""
        with self._lock:
            if self._bar is not None:
                self._bar.console.print(text, markup=False, highlight=False)
            else:
                self._write(text + "\n")


def silence(stream):
    """Point ``stream``'s file descriptor at /dev/null: its reader left (EPIPE).

    Later writes, and the interpreter's flush at exit, then succeed quietly
    instead of raising again (or printing "Exception ignored").
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


#: ``result`` of a node whose action Ctrl-C kept from starting.
NOT_STARTED = "not started"
#: ``result`` of a node whose action was running when the command stopped
#: waiting for it (over HTTP at once: the server carries on).
ABANDONED = "abandoned"
#: ``result`` of a node whose action raised an hwdrivers error.
FAILED = "failed"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a bulk action; ``results`` says what became of every node.

    A KeyboardInterrupt still, so a caller that does not report it exits as
    any interrupted command does (130); :func:`hwdrivers.cli.commands.run`
    prints the report first.
    """

    def __init__(self, results):
        super().__init__("interrupted")
        self.results = results


def summary(results):
    """``"2 done, 1 failed, 3 not started"``: the outcomes of a bulk action, counted."""
    counts = {}
    for entry in results:
        kind = entry["result"] if entry["result"] in (FAILED, NOT_STARTED, ABANDONED) \
            else "done"
        counts[kind] = counts.get(kind, 0) + 1
    order = ("done", FAILED, NOT_STARTED, ABANDONED)
    return ", ".join("%d %s" % (counts[k], k) for k in order if counts.get(k))


def _outcome(ident, action):
    """One node's entry: its power state (or ``action``'s value), or its error."""
    try:
        value = action(ident)
    except exception.HWDriversError as exc:
        return {"node": ident, "result": FAILED, "error": str(exc)}
    state = value.get("power_state") if isinstance(value, dict) else value
    return {"node": ident, "result": state, "error": None}


class _Batch:
    """Worker threads taking nodes from one queue until it is empty or stopped.

    Its own daemon threads, not a ThreadPoolExecutor: an executor runs every
    queued node before its ``with`` block (and the interpreter's exit) lets
    go, so Ctrl-C used to wait for the whole fleet. Here :meth:`stop` keeps
    any node not yet taken from starting, and a node still in flight over
    HTTP can be left to the server without holding the process's exit.
    """

    def __init__(self, idents, action):
        self.idents = list(idents)
        self._action = action
        self._pending = list(reversed(self.idents))
        self._started = set()
        self._results = {}
        self._stopping = False
        self._lock = threading.Lock()
        self._done = queue.Queue()

    def start(self, workers):
        for index in range(workers):
            threading.Thread(target=self._work, name="hwdrivers-bulk-%d" % index,
                             daemon=True).start()

    def _next(self):
        with self._lock:
            if self._stopping or not self._pending:
                return None
            ident = self._pending.pop()
            self._started.add(ident)
            return ident

    def _work(self):
        while True:
            ident = self._next()
            if ident is None:
                return
            try:
                entry = _outcome(ident, self._action)
            except BaseException as exc:  # a bug: the main thread raises it
                self._done.put(exc)
                return
            # Recorded here, not by the main thread: a Ctrl-C there between
            # taking it off the queue and recording it must not lose it.
            # Queued in the same lock: a recorded entry is always queued.
            with self._lock:
                self._results[ident] = entry
                self._done.put(entry)

    def stop(self):
        """No node starts from now on; returns the ones in flight."""
        with self._lock:
            self._stopping = True
            return [i for i in self.idents if i in self._started and i not in self._results]

    def _outstanding(self):
        with self._lock:
            expected = self._started if self._stopping else self.idents
            return len(expected) - len(self._results)

    def collect(self, advance):
        """``advance(node, outcome)`` as outcomes come, until every node that will run has."""
        while self._outstanding() > 0 or not self._done.empty():
            entry = self._done.get()
            if isinstance(entry, BaseException):
                self.stop()
                raise entry
            advance(entry["node"], entry["error"] or entry["result"])

    def results(self, in_flight_error=None):
        """Every node's entry, in order; nodes with none were not started (or abandoned)."""
        with self._lock:
            done = dict(self._results)
            started = set(self._started)
        entries = []
        for ident in self.idents:
            if ident in done:
                entries.append(done[ident])
            elif ident in started:
                entries.append({"node": ident, "result": ABANDONED,
                                "error": in_flight_error or "interrupted while in progress"})
            else:
                entries.append({"node": ident, "result": NOT_STARTED,
                                "error": "interrupted (Ctrl-C or SIGTERM) before it started"})
        return entries


def run(idents, action, label, parallel=DEFAULT_PARALLEL, stream=None,
        finish_in_flight=True, abandoned_error=None):
    """``action(ident)`` for each node in parallel; ``[{node, result, error}]`` in order.

    Ctrl-C stops any node from starting and raises :class:`Interrupted`
    carrying every node's entry: done, failed, not started, or abandoned.
    With ``finish_in_flight`` (local: the actions run in this process, hold
    node locks and must record their outcome) the nodes in flight are
    waited for first, and a second Ctrl-C stops waiting; without (HTTP: the
    server carries them on) they are abandoned at once, with
    ``abandoned_error`` as their error.
    """
    if (isinstance(parallel, bool) or not isinstance(parallel, int)
            or not 1 <= parallel <= MAX_PARALLEL):
        raise exception.InvalidParameterValue(
            "--parallel must be a whole number of nodes from 1 to %d; got %r"
            % (MAX_PARALLEL, parallel))
    stream = stream or sys.stderr
    batch = _Batch(idents, action)
    with _Progress(len(idents), label, stream) as progress:
        try:
            batch.start(min(parallel, len(idents)))
            batch.collect(progress.advance)
        except KeyboardInterrupt:
            in_flight = batch.stop()
            if finish_in_flight and in_flight:
                _finish(batch, progress, in_flight)
            raise Interrupted(batch.results(abandoned_error)) from None
    return batch.results()


def _finish(batch, progress, in_flight):
    """Wait for the nodes in flight after Ctrl-C; a second Ctrl-C stops waiting."""
    progress.note("interrupted: no other node will start; waiting for the %d in "
                  "progress (%s); Ctrl-C (or the same signal) again to stop waiting"
                  % (len(in_flight), ", ".join(in_flight)))
    try:
        batch.collect(progress.advance)
    except KeyboardInterrupt:
        pass
