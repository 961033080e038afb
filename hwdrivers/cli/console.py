"""``hwdrivers node console enable|disable|show|connect|log``: a node's serial console.

Consoles are served by ``hwdrivers-server`` (its console manager keeps the
proxies running), so every command but ``log`` needs ``--url`` /
``HWDRIVERS_URL``; ``log`` without a server reads the node's console log
file under the local state path. ``enable`` and ``disable`` wait until the
console is on (or failed, printing why) or off. ``connect`` attaches this
terminal to the console's TCP port, raw, like ``socat -,raw,echo=0
TCP:HOST:PORT``; ``~.`` at the start of a line leaves (``~~`` sends one
``~``), as in ssh.
"""

import argparse
import os
import selectors
import socket
import sys
import termios
import time
import tty
import urllib.parse

from hwdrivers.cli import inputs
from hwdrivers.cli import output
from hwdrivers.common import exception

POLL_INTERVAL = 0.5
DEFAULT_WAIT = 120.0
SHOW_FIELDS = ["console_enabled", "console_state", "url", "console_error"]


def _remote(backend, what):
    if not hasattr(backend, "request"):
        raise exception.InvalidParameterValue(
            "node console %s needs hwdrivers-server, which runs the consoles: give "
            "--url or set HWDRIVERS_URL (e.g. http://127.0.0.1:6385)" % what)
    return backend


def _path(ident, suffix=""):
    return "/v1/nodes/%s/states/console%s" % (urllib.parse.quote(str(ident), safe=""),
                                              suffix)


def _view(doc):
    info = doc.get("console_info") or {}
    return {"console_enabled": doc.get("console_enabled"),
            "console_state": doc.get("console_state"),
            "url": info.get("url"), "console_error": doc.get("console_error")}


def _get(backend, ident):
    return backend.request("GET", _path(ident))


def _wait(backend, ident, states, timeout):
    deadline = time.monotonic() + timeout
    while True:
        doc = _get(backend, ident)
        if doc.get("console_state") in states:
            return doc
        if time.monotonic() > deadline:
            raise exception.HWDriversError(
                "node %s: the console is still %s after %gs; check again with 'hwdrivers "
                "node console show %s'" % (ident, doc.get("console_state"), timeout, ident))
        time.sleep(POLL_INTERVAL)


def console_enable(args, backend):
    backend = _remote(backend, "enable")
    inputs.check_seconds(args.wait_timeout, "--wait-timeout")
    backend.request("PUT", _path(args.node), {"enabled": True}, expect=(202,))
    doc = _wait(backend, args.node, ("on", "failed"), args.wait_timeout)
    if doc.get("console_state") == "failed":
        # The server's console_error names the node and says it did not start.
        raise exception.HWDriversError(
            doc.get("console_error")
            or "node %s: the console did not start (no reason recorded)" % args.node)
    return _view(doc), SHOW_FIELDS


def console_disable(args, backend):
    backend = _remote(backend, "disable")
    inputs.check_seconds(args.wait_timeout, "--wait-timeout")
    backend.request("PUT", _path(args.node), {"enabled": False}, expect=(202,))
    return _view(_wait(backend, args.node, ("off", "failed"), args.wait_timeout)), SHOW_FIELDS


def console_show(args, backend):
    return _view(_get(_remote(backend, "show"), args.node)), SHOW_FIELDS


def console_log(args, backend):
    if hasattr(backend, "request"):
        text = backend.request("GET", _path(args.node, "/log"),
                               query={"kib": args.kib})["log"]
        data = text.encode("utf-8")
    else:
        from hwdrivers.conductor import console_log as log_files
        from hwdrivers.conf import CONF
        node = backend.node_show(args.node)
        data = log_files.tail(log_files.log_path(CONF.state_path, node["uuid"]),
                              args.kib * 1024, CONF.console.log_backups)
    out = getattr(sys.stdout, "buffer", None)
    if out is not None:
        output.writing(out.write, data)
        output.writing(out.flush)
    else:
        output.emit(data.decode("utf-8", "replace").rstrip("\n") if data else None,
                    "table")
    return None


# -- connect ------------------------------------------------------------------------

class _Escape:
    """ssh's rule: after a newline, ``~.`` leaves and ``~~`` sends one ``~``."""

    def __init__(self):
        self.line_start = True
        self.pending = False

    def feed(self, data: bytes):
        """(bytes to send, whether to leave)."""
        out = bytearray()
        for byte in data:
            char = bytes((byte,))
            if self.pending:
                self.pending = False
                if char == b".":
                    return bytes(out), True
                if char != b"~":
                    out += b"~"
                out += char
            elif self.line_start and char == b"~":
                self.pending = True
                continue
            else:
                out += char
            self.line_start = char in (b"\r", b"\n")
        return bytes(out), False


#: States whose proxy takes clients: a session restarting (a BMC reset, a
#: restored console waiting for its BMC) tells the client so and serves it
#: once back, which is when an operator wants to watch. ``connect`` refused
#: them with "enable it first", though the console was enabled.
ATTACHABLE = ("on", "restarting")


def _address(doc, ident):
    url = (doc.get("console_info") or {}).get("url") or ""
    parsed = urllib.parse.urlsplit(url)
    attachable = doc.get("console_state") in ATTACHABLE or (
        # between two restart attempts: enabled, its proxy listening
        doc.get("console_state") == "starting" and doc.get("console_enabled") and url)
    if attachable and not (parsed.scheme == "tcp" and parsed.port):
        # It said "the console is on; enable it first".
        raise exception.HWDriversError(
            "node %s: its console is %s at %s, which 'console connect' cannot attach to "
            "(it speaks tcp://HOST:PORT only); use a client for that URL"
            % (ident, doc.get("console_state"), url or "no URL"))
    if not attachable:
        raise exception.HWDriversError(
            "node %s: the console is %s%s; enable it first ('hwdrivers node console "
            "enable %s')" % (ident, doc.get("console_state"),
                             " (%s)" % doc["console_error"] if doc.get("console_error")
                             else "", ident))
    return parsed.hostname, parsed.port


def console_connect(args, backend):
    doc = _get(_remote(backend, "connect"), args.node)
    host, port = _address(doc, args.node)
    try:
        sock = socket.create_connection((host, port), timeout=10)
    except OSError as exc:
        raise exception.HWDriversError(
            "node %s: cannot connect to its console at tcp://%s:%d: %s (is that address "
            "reachable from here? the server's [console] public_address sets the "
            "address in console URLs, [console] host the one it listens on)"
            % (args.node, host, port, exc.strerror or exc)) from None
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    sys.stderr.write("Connected to the console of %s (tcp://%s:%d); ~. at the start of "
                     "a line leaves.\r\n" % (args.node, host, port))
    if doc.get("console_state") != "on":
        sys.stderr.write("Its session is %s%s: what the machine prints shows here once "
                         "it is back.\r\n" % (doc.get("console_state"), " (%s)" % doc[
                             "console_error"] if doc.get("console_error") else ""))
    sys.stderr.flush()
    try:
        if saved is not None:
            tty.setraw(stdin)
        _relay(sock, stdin, stdout)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        sock.close()
    sys.stderr.write("\r\nConnection to the console of %s closed.\n" % args.node)
    return None


def _relay(sock, stdin, stdout):
    escape = _Escape()
    sock.setblocking(False)
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        selector.register(stdin, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is sock:
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        return
                    os.write(stdout, data)
                else:
                    data = os.read(stdin, 4096)
                    if not data:
                        selector.unregister(stdin)
                        sock.shutdown(socket.SHUT_WR)
                        continue
                    send, leave = escape.feed(data)
                    if send:
                        sock.setblocking(True)
                        sock.sendall(send)
                        sock.setblocking(False)
                    if leave:
                        return


def _kib(value):
    """--kib N: a whole number of KiB, at least 1, as the API's ?kib= wants.

    Without it, the local reading took 0 or -5 for "nothing" and printed an
    empty log, where the server's answer is a 400 saying what is allowed.
    """
    try:
        kib = int(value)
    except ValueError:
        kib = 0
    if kib < 1:
        raise argparse.ArgumentTypeError(
            "must be a whole number of KiB, 1 or more, got %r" % value)
    return kib


def register(nsub, fmt) -> None:
    """Add ``node console ...`` to the ``node`` subcommands."""
    p = nsub.add_parser("console", help="A node's serial console (served by "
                                        "hwdrivers-server): enable, disable, show, "
                                        "connect, log.")
    csub = p.add_subparsers(dest="console_command", metavar="COMMAND")
    csub.required = True
    for name, func, text in (
            ("enable", console_enable, "Start the console proxy; wait until it is up."),
            ("disable", console_disable, "Stop the console proxy (its log stays)."),
            ("show", console_show, "Whether the console is on, its URL, why it failed.")):
        q = csub.add_parser(name, parents=[fmt], help=text)
        q.add_argument("node")
        if name != "show":
            q.add_argument("--wait-timeout", type=float, default=DEFAULT_WAIT,
                           metavar="SECONDS", help="Give up waiting after this long.")
        q.set_defaults(func=func)
    q = csub.add_parser("connect", help="Attach this terminal to the console; ~. leaves.")
    q.add_argument("node")
    q.set_defaults(func=console_connect)
    q = csub.add_parser("log", help="The end of the node's console log: what the machine "
                                    "printed, connected or not.")
    q.add_argument("node")
    q.add_argument("--kib", type=_kib, default=64, metavar="N",
                   help="How much of the end to show, in KiB (default 64).")
    q.set_defaults(func=console_log)
