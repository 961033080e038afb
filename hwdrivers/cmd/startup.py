"""What every long-running command does at start-up, in one place.

``hwdrivers-server``, ``hwdrivers-api`` and ``hwdrivers-conductor`` read the
config the same way (a bad file or value is one line naming it), prepare
the database the same way (a state directory that cannot be written is
refused, the schema is brought current, plain-text secrets are
encrypted), stop the same way on SIGTERM/SIGINT/SIGHUP, and report every expected
failure as one ``<prog>: error: ...`` line with exit code 1.
"""

import gc
import logging
import os
import signal
import sys
import threading
import time

from oslo_config import cfg

from hwdrivers import conf as hw_conf
from hwdrivers.common import exception

CONF = hw_conf.CONF
LOG = logging.getLogger(__name__)

#: The serving processes' log line: time, level, logger, message.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def load_config(argv, prog, **kwargs):
    """Parse ``argv`` into CONF (``kwargs``: CONF's own: usage, epilog,
    default_config_files) and check the values; ConfigInvalid naming what is
    wrong, before anything touches a database."""
    parse_config(argv, prog=prog, **kwargs)
    try:
        hw_conf.check_values(CONF)
    except cfg.ConfigFileValueError as error:
        raise exception.ConfigInvalid(str(error)) from None
    refuse_misspelt_locations(prog)


def parse_config(argv, **kwargs):
    """``CONF(argv, project="hwdrivers", **kwargs)``; ConfigInvalid naming the file
    and the problem (every command reads its config files through here)."""
    try:
        CONF(argv, project="hwdrivers", **kwargs)
    except cfg.ConfigFilesNotFoundError as error:
        raise exception.ConfigInvalid(
            "config file(s) not found: %s" % ", ".join(error.config_files)) from None
    except cfg.ConfigFileParseError as error:
        raise exception.ConfigInvalid(
            "cannot parse config file %s: %s" % (error.config_file, error.msg)) from None
    except cfg.Error as error:
        raise exception.ConfigInvalid(str(error)) from None
    except OSError as error:  # a directory, no permission: oslo lets these through
        raise exception.ConfigInvalid(config_file_problem(error)) from None
    except UnicodeDecodeError:  # oslo reads the files as UTF-8 text
        raise exception.ConfigInvalid(undecodable_config_problem(
            _config_files_named(argv) + list(kwargs.get("default_config_files")
                                             or CONF.default_config_files or ()))) from None


def config_file_problem(error):
    """The line for an OSError reading a config file given with --config-file."""
    return "cannot read config file %s: %s" % (error.filename, error.strerror or error)


def undecodable_config_problem(paths):
    """The line for a config file that is not UTF-8, naming it and the line."""
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            data.decode("utf-8")
        except OSError:
            continue
        except UnicodeDecodeError as exc:
            return ("config file %s is not UTF-8 text (line %d holds a byte that does not "
                    "decode); save it as UTF-8" % (path, data[:exc.start].count(b"\n") + 1))
    return "a config file is not UTF-8 text; save it as UTF-8"


def _config_files_named(argv):
    """The ``--config-file`` values in ``argv`` (oslo.config's own parse failed)."""
    files, args = [], iter(argv or ())
    for arg in args:
        if arg == "--config-file":
            files.append(next(args, ""))
        elif arg.startswith("--config-file="):
            files.append(arg.partition("=")[2])
    return files


#: The settings that say which database a process works on, ``(group,
#: option)``. A misspelling of one of them in a config file leaves its
#: default in force: the process then runs on (or migrates) the default
#: SQLite database under state_path, an empty one, and only a WARNING said
#: why. Those are refused; every other unknown option is warned about.
LOCATING = (("database", "connection"), ("DEFAULT", "state_path"))


def refuse_misspelt_locations(prog, locating=LOCATING, conf=CONF):
    """ConfigInvalid when the config files set a likely misspelling of a ``locating``
    setting (``[databse]``, ``[database] conection``...), naming file, group, option
    and the spelling meant; nothing has touched a database yet."""
    refused = []
    meant = set()  # the groups of the settings misspelt
    for where, group, name, hint in unknown_options(conf):
        for wanted_group, wanted in locating:
            if name is None and group != "DEFAULT" and hint == (
                    "did you mean [%s]?" % wanted_group):
                refused.append("%s: group [%s] is not a group hwdrivers knows; %s" % (
                    where, group, hint))
                meant.add(wanted_group)
                break
            if name is not None and group == wanted_group and hint == (
                    "did you mean %s?" % wanted):
                refused.append("%s: [%s] %s is not an option hwdrivers knows; %s" % (
                    where, group, name, hint))
                meant.add(wanted_group)
                break
    if refused:
        instead = []
        if meant - {"secrets"}:
            from hwdrivers.db import engine as db_engine
            instead.append("work on the %s" % db_engine.database_label())
        if "secrets" in meant:
            instead.append("use the key file %s" % conf.secrets.key_file)
        raise exception.ConfigInvalid(
            "%s Left misspelt, %s would %s instead; nothing was changed: fix the "
            "spelling" % ("; ".join(refused), prog, " and ".join(instead)))


def prepare_database():
    """Writable (SQLite), schema current, drivers loaded, secrets encrypted at rest."""
    from hwdrivers.db import api as db_api
    from hwdrivers.db import engine as db_engine
    from hwdrivers.db import migration
    from hwdrivers.drivers import factory
    db_engine.check_writable()
    migration.ensure_schema()
    factory.get_registry()  # declares the secret fields prepare_secrets encrypts
    warn_unknown_options()  # after the registry: it registers [hardware_type:*]
    db_api.prepare_secrets()


def claim_host(prog):
    """ConfigInvalid unless this is the one process of its ``[DEFAULT] host``.

    Two processes under one host name on one database (a copy of the
    config on another machine, a second server on another port) each take
    the other for a previous life of their own: the one starting releases
    the running one's locks and aborts its operations. PostgreSQL's
    advisory lock of the host (:func:`db_engine.hold_host_lock`) tells them
    apart. A session the server still keeps for a process whose machine
    died (no connection close reaches the server until TCP keepalive gives
    up, hours later) must not lock its replacement out, so the lock only
    refuses while the host's conductor row is alive or not yet written (a
    process starting at the same moment); once its heartbeat is older than
    ``[conductor] heartbeat_timeout`` this start takes over, and says so.
    """
    from hwdrivers.conductor import hash_ring
    from hwdrivers.db import api as db_api
    from hwdrivers.db import engine as db_engine
    if db_engine.hold_host_lock(CONF.host):
        keep_host_lock(prog)
        return
    try:
        row = db_api.get_conductor(CONF.host)
    except exception.ConductorNotFound:
        row = None
    if row is not None and not hash_ring.is_alive(row):
        LOG.warning("%s: a database session still holds the lock of [DEFAULT] host = %s, "
                    "but that conductor last heartbeat at %s UTC, longer than [conductor] "
                    "heartbeat_timeout ago: taking over from it", prog, CONF.host,
                    row["updated_at"])
        keep_host_lock(prog)  # takes the lock once that session is gone
        return
    raise exception.ConfigInvalid(
        "a process with [DEFAULT] host = %s is already running against this database "
        "(an hwdrivers-server or hwdrivers-conductor: it holds that host's lock); "
        "starting another one under the same name would release its locks and abort its "
        "operations. Give each process a unique [DEFAULT] host, or stop that one first."
        % CONF.host, option="[DEFAULT] host")


#: Seconds between two looks at the host lock's session (:func:`keep_host_lock`).
HOST_LOCK_CHECK_INTERVAL = 1.0


def keep_host_lock(prog, interval=None):
    """Watch this process's host lock from a thread for its life, taking it back when lost.

    The advisory lock of ``[DEFAULT] host`` lives in one PostgreSQL session;
    a restart of the server, ``pg_terminate_backend`` or a network cut ends
    that session and the lock with it, and a second process under the same
    host could then start. Every ``interval`` seconds the session is
    looked at (a ``poll``, no round trip) and, once it is gone, the lock is
    taken again in a new one as soon as the database answers (logged).

    If another process took the lock meanwhile, it started as this host:
    its start-up took this process for a crashed previous life, released
    its locks and marked its operations aborted, and it now runs as the
    host. This process then logs the fact at CRITICAL, names that process
    and exits with status 1 at once, as if it had crashed: no graceful stop,
    which would release the locks and mark offline the conductor row that
    are now the other's. Two processes under one host must never run, and
    the newer one already holds what the name owns. A supervisor that
    restarts this one sees it refused at start-up for as long as the other
    runs.
    """
    from hwdrivers.db import engine as db_engine

    lock = db_engine.host_lock()
    if lock is None:
        return None
    interval = HOST_LOCK_CHECK_INTERVAL if interval is None else interval
    thread = threading.Thread(target=_keep_host_lock, args=(prog, lock, interval),
                              name="hwdrivers-host-lock", daemon=True)
    thread.start()
    return thread


def _keep_host_lock(prog, lock, interval):
    lost = False
    while True:
        time.sleep(interval)
        try:
            state = lock.check()
        except Exception:  # a bug here must not end the watch
            LOG.exception("%s: checking the lock of [DEFAULT] host = %s failed", prog,
                          lock.host)
            continue
        if state == "held":
            continue
        if state == "retaken":
            LOG.warning("%s: took the lock of [DEFAULT] host = %s again: its database "
                        "session had ended (a PostgreSQL restart, pg_terminate_backend, a "
                        "network cut)", prog, lock.host)
            lost = False
        elif state == "waiting":
            if not lost and lock.held_once:
                LOG.warning("%s: the database session holding the lock of [DEFAULT] host "
                            "= %s ended; taking it again when the database answers "
                            "(checked every %ss)", prog, lock.host, interval)
            lost = True
        elif state == "displaced":
            _displaced(prog, lock)
            return


def _displaced(prog, lock):
    """Say that another process took this host's lock, and end this one at once."""
    holder = lock.holder or {}
    who = ["PostgreSQL backend pid %s" % holder.get("pid")]
    if holder.get("application_name"):
        who.append("application %r" % holder["application_name"])
    if holder.get("client_addr"):
        who.append("from %s" % holder["client_addr"])
    if holder.get("backend_start") is not None:
        who.append("session started %s" % holder["backend_start"].isoformat(" ", "seconds"))
    message = (
        "another process took the lock of [DEFAULT] host = %s (%s) while this one's "
        "database session was gone: it started under the same name, took this process "
        "for a crashed previous life, released its locks and aborted its operations. "
        "Exiting now, without touching them, so that two processes never run as one "
        "host. Give each process a unique [DEFAULT] host."
        % (lock.host, ", ".join(who)))
    LOG.critical("%s: %s", prog, message)
    try:
        sys.stderr.write("%s: error: %s\n" % (prog, message))
        sys.stderr.flush()
        sys.stdout.flush()
    finally:
        os._exit(1)


def unknown_options(conf=CONF):
    """``[(file, group, option or None, hint)]`` the parsed files set that nobody reads.

    oslo.config ignores what no module registered, so a misspelt
    ``[conductr]`` or ``workers_pool_sise`` silently left the default in
    force. ``[command_profile:*]`` groups have their own check (an unknown
    option there stops start-up, drivers/modules/command_settings.py).
    """
    import difflib

    from hwdrivers.conf import command_profile

    namespace = getattr(conf, "_namespace", None)
    files = getattr(namespace, "_sections_to_file", None) or {}
    groups = getattr(conf, "_groups", {})
    found, seen = [], set()
    for parsed in getattr(namespace, "_parsed", None) or ():
        for section, values in parsed.items():
            if section.startswith(command_profile.PREFIX):
                continue
            where = files.get(section, "the config file")
            if section == "DEFAULT":
                opts = getattr(conf, "_opts", {})
            elif section in groups:
                opts = groups[section]._opts
            else:
                if (where, section, None) not in seen:
                    seen.add((where, section, None))
                    # [hardware_type:ipmni] is compared with the other types only
                    prefix = section.partition(":")[0] + ":" if ":" in section else ""
                    names = [g[len(prefix):] for g in groups if g.startswith(prefix)
                             and (prefix or ":" not in g)]
                    close = difflib.get_close_matches(section[len(prefix):], names, 1,
                                                      0.75)
                    found.append((where, section, None, "did you mean [%s%s]?" % (
                        prefix, close[0]) if close else None))
                continue
            known = set(opts)
            for info in opts.values():
                for old in getattr(info["opt"], "deprecated_opts", None) or ():
                    if old.name and (old.group or "DEFAULT") in (section, None):
                        known.add(old.name)
            for name in values:
                if name in known or (where, section, name) in seen:
                    continue
                seen.add((where, section, name))
                close = difflib.get_close_matches(name, sorted(known), 1, 0.75)
                found.append((where, section, name,
                              "did you mean %s?" % close[0] if close else None))
    return found


def warn_unknown_options(conf=CONF):
    """One WARNING per group or option in the config files that nothing reads."""
    from hwdrivers.conf import hardware_type

    for where, group, name, hint in unknown_options(conf):
        if name is None:
            why = ("is not an enabled hardware type ([DEFAULT] enabled_hardware_types)"
                   if group.startswith(hardware_type.GROUP_PREFIX)
                   else "is not a group hwdrivers knows")
            LOG.warning("%s: group [%s] %s; its options are ignored%s", where, group,
                        why, "; " + hint if hint else "")
        else:
            LOG.warning("%s: [%s] %s is not an option hwdrivers knows; it is ignored%s",
                        where, group, name, "; " + hint if hint else "")


def stop_event():
    """An Event set by SIGTERM, SIGINT or SIGHUP (installed now, in the main thread).

    SIGHUP too: it is what a server started from a terminal or an ssh
    session gets when that closes, and its default action killed the
    process on the spot, with no graceful stop (operations cut off, leases
    left to expire, the conductor still listed alive). There is nothing to
    reload on SIGHUP: the htpasswd and key files are re-read when they
    change. Under ``nohup`` (SIGHUP ignored from the start) it stays ignored.
    """
    stop = threading.Event()

    def on_signal(signum, frame):
        LOG.info("received signal %s; stopping", _signal_name(signum))
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, on_signal)
    return stop


def _signal_name(signum):
    try:
        return "%s (%d)" % (signal.Signals(signum).name, signum)
    except ValueError:
        return str(signum)


def say(line):
    """``line`` on stdout in one write, so no log line from another thread lands
    inside it (print writes the text and the newline apart, which an unbuffered
    stdout shared with stderr shows)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def announce(prog, server):
    """Print where ``server`` (a cmd.server.Server) listens: what scripts wait for."""
    for label, url in server.urls():
        say("%s: serving%s on %s" % (prog, "" if label == "API" else " " + label, url))


def freeze_startup_heap():
    """Leave what start-up built out of every later garbage collection.

    Modules, SQLAlchemy's metadata, the driver registry, Flask's app: a few
    hundred thousand objects that live as long as the process. A full
    collection walks all of them; serving 1,000-node pages triggers one
    every few pages, about 100 ms each (21 ms per page on average,
    measured in-process; 0.9 ms once frozen). Objects made later are
    collected as usual.
    """
    gc.collect()
    gc.freeze()


def wait_for_stop(stop):
    """Block the main thread until ``stop`` is set, by a signal whichever thread it hits.

    A SIGTERM the kernel hands to another thread (one that happens to be
    on a CPU: a busy request thread) runs Python's handler only once the
    main thread next runs bytecode, and a main thread asleep in
    ``Event.wait`` is not woken by it: the server would ignore SIGTERM for
    up to the wait's timeout (seen under load). ``signal.set_wakeup_fd``
    makes every signal, in any thread, write a byte the main thread is
    waiting to read; once it wakes, the handler runs and sets ``stop``.
    """
    import select
    import socket

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        while not stop.is_set():
            select.select([reader], [], [], 3600)
            try:
                reader.recv(64)
            except BlockingIOError:
                pass
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def run_until_stopped(prog, stop, *closers, service=None):
    """Wait for ``stop``, then call ``closers`` in order and close the database.

    0, or 1 with one line saying what was left behind when ``service`` (a
    conductor, among the closers) could not release its locks or go offline
    (the database was lost at that moment): a supervisor then sees a stop that
    did not finish its work, not a clean one. Called once the process serves:
    start-up's objects are frozen first (:func:`freeze_startup_heap`).
    """
    freeze_startup_heap()
    try:
        wait_for_stop(stop)
    finally:
        for close in closers:
            close()
        from hwdrivers.db import engine as db_engine
        db_engine.dispose()
    problem = getattr(service, "stop_problem", None)
    if problem:
        sys.stderr.write("%s: error: stopped, but %s\n" % (prog, problem))
        return 1
    say("%s: stopped" % prog)
    return 0


def run(prog, serve, argv=None):
    """``serve(argv)`` with every expected failure as one line and exit code 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)

    def fail(message):
        sys.stderr.write("%s: error: %s\n" % (prog, message))
        return 1

    try:
        return serve(argv)
    except exception.DatabaseUnavailable as error:
        return fail(_database_unavailable(error))
    except exception.HWDriversError as error:
        return fail(str(error))
    except (cfg.ConfigFileValueError, cfg.Error) as error:
        return fail("invalid configuration: %s" % error)
    except OSError as error:  # a file start-up reads or writes; it names the path
        return fail(str(error))
    except Exception as error:
        if type(error).__module__.startswith("sqlalchemy"):
            # Unreachable database, bad URL ...: one line, no traceback.
            from hwdrivers.db import engine as db_engine
            text = str(getattr(error, "orig", None) or error).strip()
            return fail("cannot use the %s: %s" % (
                db_engine.database_label(),
                db_engine.explained(text.splitlines()[0]) if text
                else type(error).__name__))
        raise
    except KeyboardInterrupt:
        return 130


def _database_unavailable(error):
    """The line for a DatabaseUnavailable: an unusable SQLite file's message
    names the file and the fix already; the others get the setting added."""
    if isinstance(error, exception.DatabaseUnusable):
        return str(error)
    from hwdrivers.db import engine as db_engine
    return "cannot use the %s: %s" % (db_engine.database_label(), error.kwargs["reason"])
