"""``hwdrivers``: the command line. Errors print one clear line, never a traceback."""

import functools
import logging
import os
import signal
import sys
import threading

from oslo_config import cfg

from hwdrivers import conf as hw_conf
from hwdrivers.cli import bulk
from hwdrivers.cli import commands
from hwdrivers.cli import inputs
from hwdrivers.cli import output
from hwdrivers.cmd import startup
from hwdrivers.common import exception
from hwdrivers.conductor import metrics

CONF = hw_conf.CONF


def load_config(config_files):
    """Parse config files; raise ConfigInvalid naming the file and the problem.

    As the services read theirs: a misspelt [database] connection, which
    would quietly act on the default SQLite database, is refused too.
    """
    startup.load_config([], "hwdrivers",
                        default_config_files=config_files if config_files else None)


def _local_backend(database=True):
    """The database through the conductor; or, for commands that need none
    (``database=False`` in their parser defaults), the configured drivers.

    Options nothing reads are warned about, as the services do. Only a
    file holding something unknown to hwdrivers' own option groups loads
    the registry (every driver module, 2.5 MiB) before the check, since
    the drivers register more groups (``[hardware_type:*]``): a command
    that needs no driver (``node list``) then loads none.
    """
    from hwdrivers.cli import local
    backend = local.LocalBackend() if database else local.LocalDrivers()
    if startup.unknown_options():
        backend.registry  # noqa: B018 - loaded before the check, for its groups
        startup.warn_unknown_options()
    return backend


def _api_password(args, username, url):
    """(the API password, where it came from): $HWDRIVERS_PASSWORD, the first
    line of stdin, or a prompt. The source goes into a refused login's message,
    so it names what was actually used.

    Never an argument: argv is readable by every user through ps.
    """
    password = os.environ.get("HWDRIVERS_PASSWORD")
    if password is not None:
        return password, "HWDRIVERS_PASSWORD"
    if args.password_stdin:
        line = inputs.stdin_line("the API password (--password-stdin)")
        if line is None:
            raise exception.InvalidParameterValue(
                "--password-stdin: standard input is empty; give the password of API "
                "user %s as its first line" % username)
        return line.rstrip("\r"), "--password-stdin (the first line of standard input)"
    if inputs.stdin_is_terminal():
        import getpass
        try:
            typed = getpass.getpass("Password for %s at %s: " % (username, url))
        except EOFError:  # Ctrl-D at the prompt
            raise exception.InvalidParameterValue(
                "no password typed for API user %s" % username) from None
        return typed, "the password typed at the prompt"
    raise exception.InvalidParameterValue(
        "no password for API user %s: set HWDRIVERS_PASSWORD or pass "
        "--password-stdin" % username)


def backend_factory(args):
    """The local database, or the API at --url / $HWDRIVERS_URL."""
    url = args.url or os.environ.get("HWDRIVERS_URL")
    username = args.username or os.environ.get("HWDRIVERS_USERNAME")
    if not url:
        if args.username or args.password_stdin:
            raise exception.InvalidParameterValue(
                "--username and --password-stdin are for the API; give --url or "
                "HWDRIVERS_URL too")
        return functools.partial(_local_backend, getattr(args, "database", True))
    if args.password_stdin and not username:
        raise exception.InvalidParameterValue(
            "--password-stdin needs --username or HWDRIVERS_USERNAME")

    if not args.url:  # --url is checked with the other arguments
        inputs.check_text(url, "HWDRIVERS_URL")

    def remote():
        from hwdrivers.cli import http
        # Checked before the password is asked for: the prompt shows the URL.
        base = http.api_url(url, "--url" if args.url else "HWDRIVERS_URL")
        password, source = (_api_password(args, username, base) if username
                            else (None, None))
        return http.HTTPBackend(base, username=username, password=password,
                                password_source=source)
    return remote


def _interrupted_line(args, signum=signal.SIGINT):
    """What Ctrl-C left behind, said once: over the API, the server carries on."""
    what = "interrupted" if signum == signal.SIGINT else "terminated (%s)" % (
        signal.Signals(signum).name)
    if args.url or os.environ.get("HWDRIVERS_URL"):
        return ("ERROR: %s; a request the API had accepted carries on there: "
                "check the node with 'hwdrivers node show'\n" % what)
    return "ERROR: %s\n" % what


#: Signals that end a command as Ctrl-C does. Their default action killed the
#: process on the spot: ``timeout 60 hwdrivers node power on --all`` (SIGTERM)
#: or a closed ssh session (SIGHUP) left the nodes in flight locked, their
#: targets shown, with no word of what became of each node.
_ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _Ending:
    """Turns SIGTERM and SIGHUP into KeyboardInterrupt while a command runs,
    so they take Ctrl-C's path (nodes in flight waited for or released, each
    node's outcome printed); ``signum`` is the last one received.

    A signal the parent ignores (``nohup`` ignores SIGHUP) stays ignored.
    Only the main thread can set handlers (tests may call :func:`main`
    from another); the previous handlers come back on exit.
    """

    def __init__(self):
        self.signum = signal.SIGINT
        self._saved = {}

    def _handle(self, signum, frame):
        self.signum = signum
        raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in _ENDING_SIGNALS:
                if signal.getsignal(signum) != signal.SIG_IGN:
                    self._saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._saved.items():
            # None: the handler was not set from Python (an embedding's).
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        return False


class _PrintableFormatter(logging.Formatter):
    """A handler's formatter, its lines with control characters escaped: a
    retry warning quotes what the BMC or tool said, escape sequences too."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record):
        return output.printable(self.inner.format(record))


def _say(text):
    """An error line on stderr; a reader of stderr that left is no second error."""
    try:
        sys.stderr.write(output.printable(text))
        sys.stderr.flush()
    except (OSError, AttributeError):  # a reader that left, a full disk, closed
        bulk.silence(sys.stderr)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    configured = bool(logging.getLogger().handlers)  # by a caller (tests): left alone
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not configured:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(_PrintableFormatter(handler.formatter))
    parser = commands.build_parser()
    args = commands.parse(parser, argv)
    inputs.forget_stdin()
    ending = _Ending()
    try:
        with ending:
            commands.check_arguments(parser, args)
            load_config(args.config_file)
            with metrics.suspended():  # a command's figures are exported by no one
                commands.run(args, backend_factory(args))
            output.flush()  # a full disk is said here, not at the interpreter's exit
    except output.OutputFailed as exc:
        _say("ERROR: %s\n" % exc)
        bulk.silence(sys.stdout)  # what stays buffered must not fail again at exit
        return 1
    except exception.HWDriversError as exc:
        _say("ERROR: %s\n" % exc)
        return 1
    except (cfg.ConfigFileValueError, cfg.Error) as exc:
        _say("ERROR: invalid configuration: %s\n" % exc)
        return 1
    except bulk.Interrupted:
        return 128 + ending.signum  # each node's outcome is printed already
    except KeyboardInterrupt:
        _say(_interrupted_line(args, ending.signum))
        return 128 + ending.signum
    except BrokenPipeError:
        # `hwdrivers node list | head`: the reader left; say nothing more.
        # Point stdout at /dev/null so the interpreter's final flush is quiet.
        bulk.silence(sys.stdout)
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
