"""``hwdrivers-server``: the conductor and the REST API in one process.

    hwdrivers-server [--config-file F] [--host HOST] [--port PORT]

``--host``/``--port`` override ``[api] host``/``port`` for this run (the
PDUDaemon listener keeps ``[pdudaemon] host``/``port``).

Start-up: read the config, make sure the database schema is current
(the embedded SQLite database needs no separate dbsync step), start the
conductor service (driver registry, conductor row, recovery, periodic
tasks), then serve the API on ``[api] host``/``port`` and,
when ``[pdudaemon] enabled``, the PDUDaemon-compatible listener too.
One server per SQLite database: a second one is refused
(:func:`lock_sqlite_database`). SIGTERM/SIGINT stop the listeners, let
the conductor finish in-flight operations (``[conductor]
graceful_shutdown_timeout``), and exit 0.

With ``[api] auth_strategy = noauth`` every client is admin, so the server
refuses to bind anything but loopback unless ``[api]
allow_insecure_noauth_bind`` is set.

Everything heavy is imported inside :func:`main`'s steps, after the config
is read, so a bad config fails in a fraction of a second and a good one
serves in well under one.
"""

import argparse
import logging
import sys
import threading
import time


from hwdrivers import conf as hw_conf
from hwdrivers.cmd import startup
from hwdrivers.common import exception
from hwdrivers.common import network

CONF = hw_conf.CONF
PROG = "hwdrivers-server"
LOG = logging.getLogger(PROG)


def check_bind(conf=CONF):
    """ConfigInvalid when noauth would be served beyond loopback."""
    host = conf.api.host
    if (conf.api.auth_strategy == "noauth" and not network.is_loopback(host)
            and not conf.api.allow_insecure_noauth_bind):
        raise exception.ConfigInvalid(
            "[api] host = %s is not a loopback address, and [api] auth_strategy = "
            "noauth would give anyone who can reach it full control of every "
            "machine; set auth_strategy = http_basic, bind 127.0.0.1, or set [api] "
            "allow_insecure_noauth_bind = true on an isolated network" % host,
            option="[api] host")


def check_threads(conf=CONF):
    """Warn when hung controllers could hold every API thread."""
    slots, threads = conf.api.hardware_wait_slots, conf.api.threads
    if slots >= threads:
        LOG.warning("[api] hardware_wait_slots = %d is not below [api] threads = %d: "
                    "controllers that hang can then hold every API thread, and no "
                    "other request is answered until they time out; raise [api] "
                    "threads above %d or lower hardware_wait_slots", slots, threads, slots)
        return False
    return True


#: The open lock file of :func:`lock_sqlite_database`, held until the process ends.
_database_lock = None


def lock_sqlite_database():
    """Hold a lock on the SQLite database for this process's life, or ConfigInvalid.

    A second ``hwdrivers-server`` on the same SQLite file (a copy of the
    config on another port, a second ``tools/serve.sh``) took the running
    one for a previous life of its conductor: its start-up recovery released
    that server's locks and marked its running operations aborted, and two
    conductors then each claimed every node. Its busy port stops a second
    server only when the ports are the same. An exclusive ``flock`` on
    ``<database>.server-lock`` tells a live server from a dead one with no
    heartbeat or timeout: the kernel releases it when its process ends,
    however it ends (a SIGKILLed server's successor recovers at once).
    PostgreSQL deployments run several conductors by design
    (doc/scale-out.md) and are not locked here.
    """
    global _database_lock
    import fcntl
    import os

    from hwdrivers.db import engine as db_engine

    database = db_engine.sqlite_file()
    if database is None:
        return None
    path = os.path.abspath(database) + ".server-lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip()
        os.close(fd)
        option = db_engine.location_option()
        raise exception.ConfigInvalid(
            "another hwdrivers-server%s already serves the SQLite database %s (it "
            "holds %s); a second one would release that server's locks and abort "
            "its operations. Stop it first, or give this one its own database (%s)"
            % (" (pid %s)" % holder if holder.isdigit() else "", database, path,
               option), option=option) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, b"%d\n" % os.getpid())
    _database_lock = fd
    return path


def make_service(conf=CONF):
    """The conductor service this process runs beside its API."""
    from hwdrivers.conductor import service as service_mod
    return service_mod.ConductorService(conf=conf)


class Server:
    """The listeners of one process, each serving in a thread.

    The API is served by ``[api] http_server`` (:func:`api_listener`);
    the PDUDaemon listener by waitress or its own TCP server.
    """

    def __init__(self, service, conf=CONF):

        from hwdrivers.api import app as app_mod
        from hwdrivers.api import auth
        from hwdrivers.api import client_quirks

        self.service = service
        check_threads(conf)
        wsgi = client_quirks.ClientQuirks(auth.wrap(app_mod.create_app(service, conf), conf))
        self.servers = []
        self._threads = {}  # id(server) -> the thread serving it
        self.servers.append(("API", api_listener(wsgi, conf)))
        if conf.pdudaemon.enabled:
            try:
                self.servers.append(("PDUDaemon", _pdudaemon_server(service, conf)))
            except BaseException:
                self.close()
                raise

    def urls(self):
        return [(label, "%s://%s:%s" % (getattr(s, "scheme", "http"),
                                        _host_for_url(s.effective_host), s.effective_port))
                for label, s in self.servers]

    def start(self):
        for label, server in self.servers:
            thread = threading.Thread(target=server.run, name="listener-%s" % label,
                                      daemon=True)
            thread.start()
            self._threads[id(server)] = thread

    def close(self):
        for _, server in self.servers:
            close_listener(server, self._threads.get(id(server)))
        for thread in self._threads.values():
            thread.join(timeout=5)


def close_listener(server, thread=None, timeout=5.0):
    """Stop ``server`` (served by ``thread``, if it was started).

    A waitress server is stopped in order, as closing it from this thread
    at once raced with it twice ("Bad file descriptor" tracebacks): a
    request thread still finishing pulled the loop's trigger after it was
    closed, and the loop's ``select`` was handed sockets closed under it.
    So it stops accepting, lets the running requests end (up to
    ``timeout``; queued ones are dropped), then has its own loop thread
    close every socket, which ends the loop.
    """
    dispatcher = getattr(server, "task_dispatcher", None)
    if dispatcher is None:  # granian's, the PDUDaemon TCP listener
        server.close()
        return
    from waitress import wasyncore

    listeners = _waitress_listeners(server)
    for listener in listeners:
        listener.accepting = False
    dispatcher.shutdown(timeout=timeout)
    socket_map = listeners[0]._map if listeners else {}
    if thread is not None and thread.is_alive() and listeners:
        try:
            listeners[0].trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
        except OSError:  # the trigger is closed already: the loop is ending on its own
            wasyncore.close_all(socket_map)
        thread.join(timeout)
    else:
        wasyncore.close_all(socket_map)


def api_listener(wsgi, conf=CONF):
    """The API's listener on ``[api] host``/``port``, by ``[api] http_server``."""
    api = conf.api
    saturation = SaturationLog("API", api.threads, "[api] threads")
    if api.http_server == "granian":
        from hwdrivers.cmd import granian_server
        return _listen("[api] host/port", granian_server.GranianServer, wsgi,
                       host=api.host, port=api.port, threads=api.threads,
                       saturation=saturation,
                       drain_timeout=conf.conductor.graceful_shutdown_timeout)
    return _listen(
        "[api] host/port", waitress_server,
        wsgi, host=api.host, port=api.port, threads=api.threads,
        # waitress buffers whole bodies, so it must bound them too; it
        # answers in plain text, so its bound is looser than the app's,
        # which answers too-large bodies with an Ironic-shaped 413.
        max_request_body_size=4 * max(api.max_request_body_size,
                                      api.max_inspection_body_size),
        ident="hwdrivers", clear_untrusted_proxy_headers=True, saturation=saturation)


def _pdudaemon_server(service, conf):
    """The PDUDaemon listener speaking ``[pdudaemon] listener``'s protocol."""

    from hwdrivers.api import pdudaemon
    from hwdrivers.api import pdudaemon_tcp
    group = conf.pdudaemon
    if group.listener == "tcp":
        return _listen("[pdudaemon] host/port", pdudaemon_tcp.TCPListener, service,
                       host=group.host, port=group.port, conf=conf)
    return _listen("[pdudaemon] host/port", waitress_server,
                   pdudaemon.make_app(service, conf), host=group.host, port=group.port,
                   threads=4, ident="hwdrivers-pdudaemon")


def waitress_server(app, threads_option=None, saturation=None, **kwargs):
    """``waitress.create_server(app, **kwargs)`` whose connections do not spin.

    waitress's main loop asks ``select`` whether a connection is writable
    whenever it holds output. While a request is still running, the
    request's own thread holds the output lock from appending its
    response to sending it (waitress sends as soon as it can); in that
    window the main loop cannot take the lock, so ``select`` says
    "writable" at once, the loop tries the lock and fails, again and
    again. Under 50 clients that spin cost 2-3 ms of CPU per request and
    the GIL it kept taking (measured: 213 -> 346-391 power requests/s,
    server CPU 4.9 -> 2.6-3.0 ms per request, doc/performance.md §4).
    :func:`quiet_channel_class` leaves such a connection out of the
    ``select`` until the lock is free: the request thread flushes what it
    wrote itself, and waitress pulls the loop's trigger when a request
    ends or waits for its output to drain.

    Requests waiting for a free thread are reported by ``saturation`` or
    else a :class:`SaturationLog` (``threads_option`` names the option to
    raise).
    """
    import waitress

    server = waitress.create_server(app, **kwargs)
    server.task_dispatcher.queue_logger = saturation or SaturationLog(
        kwargs.get("ident") or "waitress", server.adj.threads, threads_option)
    for listener in _waitress_listeners(server):
        listener.channel_class = quiet_channel_class()
    return server


def _waitress_listeners(server):
    """The listening servers of what ``waitress.create_server`` returned (one or several)."""
    from waitress import server as waitress_servers

    if isinstance(server, waitress_servers.BaseWSGIServer):
        return [server]
    return [s for s in getattr(server, "map", {}).values()
            if isinstance(s, waitress_servers.BaseWSGIServer)]


class SaturationLog:
    """Stands in for waitress's queue logger: one line a minute, not one a request.

    waitress warns "Task queue depth is N" on every request that finds
    no idle thread. A busy API does that on nearly every request (seen:
    29,151 warnings for 29,550 requests from 50 clients), which buries
    the log and costs each request a formatted, locked log write. This
    keeps the signal: the first wait is reported at once, then at most
    one summary per ``interval`` with how many requests waited and the
    deepest queue seen, and which option to raise if it persists.
    """

    def __init__(self, listener, threads, option=None, interval=60.0):
        self.listener = listener
        self.threads = threads
        self.option = option
        self.interval = interval
        self._lock = threading.Lock()
        self._waited = 0
        self._deepest = 0
        self._last = None

    def warning(self, message, depth, *args):
        """waitress's call, ``warning("Task queue depth is %d", depth)``."""
        self._record(depth)

    def all_busy(self):
        """A request took the last free thread (granian: its queue is not visible)."""
        self._record(None)

    def _record(self, depth):
        now = time.monotonic()
        with self._lock:
            self._waited += 1
            if depth is not None:
                self._deepest = max(self._deepest, depth)
            if self._last is not None and now - self._last < self.interval:
                return
            waited, deepest, last = self._waited, self._deepest, self._last
            self._waited, self._deepest, self._last = 0, 0, now
        since = ("since it started" if last is None else
                 "in the %.0f s since the last report" % (now - last))
        advice = "; if this persists, raise %s" % self.option if self.option else ""
        if depth is None:
            LOG.warning("%s: all %d threads busy %d time(s) %s, so requests waited for "
                        "one%s", self.listener, self.threads, waited, since, advice)
        else:
            LOG.warning("%s: %d request(s) queued for one of its %d threads %s (deepest "
                        "queue %d)%s", self.listener, waited, self.threads, since, deepest,
                        advice)


_quiet_channel = None


def quiet_channel_class():
    """waitress's HTTPChannel, not writable while a running request holds its output."""
    global _quiet_channel
    if _quiet_channel is None:
        from waitress import channel

        class QuietChannel(channel.HTTPChannel):
            def writable(self):
                # Asked of every connection on every turn of the loop: the
                # common answer (nothing to send) first, without the lock.
                if self.will_close or self.close_when_flushed:
                    return True
                if not self.total_outbufs_len:
                    return False
                if self.requests:
                    if not self.outbuf_lock.acquire(False):
                        return False  # the request's thread is writing and sends it
                    self.outbuf_lock.release()
                return True

        _quiet_channel = QuietChannel
    return _quiet_channel


def _listen(option, create, app, host, port, **kwargs):
    """waitress.create_server, with a bind failure naming the address and option."""
    try:
        return create(app, host=host, port=port, **kwargs)
    except OSError as error:
        raise exception.ConfigInvalid(
            "cannot listen on %s:%s (%s): %s; change %s or stop what uses it"
            % (host, port, option, error.strerror or error, option), option=option) from None


def _host_for_url(host):
    return "[%s]" % host if ":" in str(host) else host


USAGE = "%s [-h] [--config-file PATH] [--config-dir DIR] [--host HOST] [--port PORT]" % PROG
EPILOG = ("--host HOST and --port PORT override [api] host and port (default "
          "127.0.0.1:6385) for this run.")


def split_listen_args(argv):
    """``(host, port, the rest for oslo.config)``; ConfigInvalid naming a bad flag."""
    parser = argparse.ArgumentParser(prog=PROG, add_help=False, allow_abbrev=False,
                                     exit_on_error=False)
    parser.add_argument("--host")
    parser.add_argument("--port")
    try:
        known, rest = parser.parse_known_args(argv)
    except argparse.ArgumentError as error:
        raise exception.ConfigInvalid(
            "%s: give a value, e.g. --host 0.0.0.0 --port 6385" % error) from None
    port = known.port
    if port is not None:
        try:
            port = int(port)
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            raise exception.ConfigInvalid(
                "--port must be a TCP port number from 0 to 65535 (0: any free "
                "port), got %r" % known.port, option="--port")
    return known.host, port, rest


def load_config(argv, prog=PROG, usage=USAGE):
    """The config, with ``--host``/``--port`` overriding ``[api] host``/``port``."""
    host, port, argv = split_listen_args(argv)
    startup.load_config(argv, prog, usage=usage, epilog=EPILOG)
    for flag, name, value in (("--host", "host", host), ("--port", "port", port)):
        if value is not None:
            try:
                CONF.set_override(name, value, group="api")
            except ValueError as error:
                raise exception.ConfigInvalid("%s %s: %s" % (flag, value, error),
                                              option=flag) from None


def serve(argv):
    """Run until SIGTERM/SIGINT; returns the exit code."""
    load_config(argv)
    check_bind(CONF)
    startup.prepare_database()
    stop = startup.stop_event()

    service = make_service(CONF)
    # Bind the listeners before starting the conductor: a second server on a
    # busy port must fail before it registers itself and, as restart
    # recovery, releases the locks the running server holds for its host.
    server = Server(service, CONF)
    try:
        lock_sqlite_database()
        startup.claim_host(PROG)
        service.start()
    except BaseException:
        server.close()
        raise
    server.start()
    startup.announce(PROG, server)
    return startup.run_until_stopped(PROG, stop, server.close, service.stop,
                                     service=service)


def main(argv=None):
    return startup.run(PROG, serve, argv)


if __name__ == "__main__":
    sys.exit(main())
