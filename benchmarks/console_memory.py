"""Memory per console: the supervisor each console session runs under.

Every console session (``ipmitool sol activate``, a profile's console
command) runs under a reaper supervisor (hwdrivers/common/reaper.py), one
per console, for as long as the console is on. This starts N real console
relays (hwdrivers.conductor.console_relay) whose session is ``cat`` on the
relay's pseudo-terminal, both ways the supervisors can be started:

* ``fresh``: each supervisor its own ``python -I -S reaper.py`` (before);
* ``hosted``: forked by the one console host (console_host.py), sharing its
  interpreter's pages copy-on-write (the default now);

and reads, for each supervisor, VmRSS (/proc/<pid>/status) and, from
/proc/<pid>/smaps_rollup, Pss (shared pages divided among their users) and
private memory (Private_Clean + Private_Dirty: what the process alone
costs, freed when it exits). Medians over the consoles of every repetition;
"per 1,000" is the private median x 1,000 plus, hosted, the host itself.
"""

import argparse
import os
import socket
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from hwdrivers.conductor import console_log  # noqa: E402
from hwdrivers.conductor import console_relay  # noqa: E402
from hwdrivers.drivers.modules import console_base  # noqa: E402


def memory(pid):
    """(VmRSS, Pss, private) of ``pid`` in KiB."""
    rss = 0
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fields = {}
    with open("/proc/%d/smaps_rollup" % pid) as rollup:
        for line in rollup:
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                fields[key] = int(rest.split()[0])
    return rss, fields.get("Pss", 0), fields.get("Private_Clean", 0) + fields.get(
        "Private_Dirty", 0)


def run_once(mode, count, directory):
    console_relay._use_host = mode == "hosted"
    conf = types.SimpleNamespace(idle_timeout=0, start_timeout=30, restart_limit=0,
                                 allowed_clients=[])
    command = console_base.ConsoleCommand(argv=["cat"], env={"PATH": "/usr/bin:/bin"})
    relays = []
    try:
        for n in range(count):
            listener = socket.create_server(("127.0.0.1", 0))
            log = console_log.ConsoleLog(os.path.join(directory, "%s-%d.log" % (mode, n)),
                                         1 << 20, 0)
            relay = console_relay.Relay("node-%d" % n, "node-%d" % n, command, listener,
                                        log, conf, lambda r, reason: None)
            relay.start()
            relays.append(relay)
        for relay in relays:
            state = relay.wait_outcome(30)
            if state != console_relay.ON:
                raise SystemExit("a console did not come up (%s): %s" % (state,
                                                                         relay.reason))
        pids = [relay._session.proc.pid for relay in relays]
        hosted = [getattr(relay._session.proc, "hosted", False) for relay in relays]
        if any(hosted) != (mode == "hosted") or not all(hosted) == (mode == "hosted"):
            raise SystemExit("%s: supervisors not started that way" % mode)
        figures = [memory(pid) for pid in pids]
        host = None
        if mode == "hosted":
            parents = set()
            for pid in pids:
                with open("/proc/%d/stat" % pid) as stat:
                    parents.add(int(stat.read().rsplit(")", 1)[1].split()[1]))
            if len(parents) != 1:
                raise SystemExit("hosted supervisors have %d parents" % len(parents))
            host = memory(parents.pop())
        return figures, host
    finally:
        for relay in relays:
            relay.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consoles", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="fresh,hosted")
    args = parser.parse_args()
    print(common.machine())
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwbench-console-") as directory:
        for mode in args.modes.split(","):
            figures, hosts = [], []
            for _ in range(args.repeat):
                found, host = run_once(mode, args.consoles, directory)
                figures += found
                if host is not None:
                    hosts.append(host)
            rss = common.median([f[0] for f in figures]) / 1024.0
            pss = common.median([f[1] for f in figures]) / 1024.0
            private = common.median([f[2] for f in figures]) / 1024.0
            host_private = common.median([h[2] for h in hosts]) / 1024.0 if hosts else 0.0
            rows.append((mode, len(figures), rss, pss, private, host_private,
                         (private * 1000 + host_private) / 1024.0))
    common.print_table(
        "Console supervisor memory, %d consoles x %d (medians, MiB)"
        % (args.consoles, args.repeat),
        ("mode", "supervisors", "VmRSS", "Pss", "private", "host private",
         "GiB per 1,000"), rows)


if __name__ == "__main__":
    main()
