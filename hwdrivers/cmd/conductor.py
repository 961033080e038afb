"""``hwdrivers-conductor``: one conductor of a scaled-out deployment.

    hwdrivers-conductor [--config-file F]

It runs drivers, workers and the periodic tasks for its share of the nodes
(its group's hash ring, conductor/hash_ring.py) and serves the API
processes' calls over JSON-RPC on ``[json_rpc] host_ip``/``port``
(conductor/rpc.py). Any number run beside any number of ``hwdrivers-api``
processes, all on one PostgreSQL database; doc/scale-out.md shows how.

SQLite is refused at start-up: only one process at a time can write it and
other machines cannot reach it, so conductors sharing it could not work —
``hwdrivers-server`` (API and conductor in one process) is the way to run
on SQLite. With ``[json_rpc] auth_strategy = noauth`` the listener must bind
a loopback address: anyone reaching it could power machines off.

A second conductor started under the ``[DEFAULT] host`` of one that is
running and answering is refused: it would take the running one for a
previous life of its own, release its locks and abort its operations.

SIGTERM/SIGINT stop the listener, let in-flight operations finish
(``[conductor] graceful_shutdown_timeout``), release the conductor's locks
and mark it offline, so its nodes move to the others at once.
"""

import http.client
import logging
import socket
import sys
import threading
import urllib.parse


from hwdrivers import conf as hw_conf
from hwdrivers.cmd import startup
from hwdrivers.common import exception
from hwdrivers.common import network

CONF = hw_conf.CONF
PROG = "hwdrivers-conductor"
LOG = logging.getLogger(PROG)


def require_postgresql(prog):
    """ConfigInvalid unless ``[database] connection`` is a shared (non-SQLite) database."""
    from hwdrivers.db import engine as db_engine
    if db_engine.is_sqlite():
        raise exception.ConfigInvalid(
            "%s runs beside other API and conductor processes, which must share one "
            "database server, but [database] connection is SQLite (%s), a file only "
            "one process at a time can write and other machines cannot reach. Set "
            "[database] connection = postgresql+psycopg://USER@HOST/DATABASE (see "
            "doc/scale-out.md), or run hwdrivers-server, the API and conductor in "
            "one process, which is made for SQLite."
            % (prog, CONF.database.connection or "the default under state_path"),
            option="[database] connection")


def check_host(conf=CONF):
    """ConfigInvalid unless ``[DEFAULT] host`` can name this process's locks.

    Locks are owned by ``<host>:<token>`` and a conductor's are found by the
    ``<host>:`` prefix, so a host with a ':' (``c1:b``) would have its locks
    released when ``c1`` restarts or is reaped; an empty one is no name, and
    the conductors table holds 255 characters.
    """
    host = conf.host
    if (not host or len(host) > 255 or ":" in host
            or any(c.isspace() or not c.isprintable() for c in host)):
        raise exception.ConfigInvalid(
            "[DEFAULT] host = %r: name this process with 1 to 255 characters, no ':' "
            "and no spaces (it owns its locks and its place on the hash ring), e.g. "
            "the machine's host name" % (host or "")[:80], option="[DEFAULT] host")


def check_group(conf=CONF):
    """ConfigInvalid unless the group is one a node's conductor_group can name.

    The same rule as the API's (ASCII letters and digits, '.', '-', '_'):
    a conductor in a group no node can be put in would drive nothing.
    """
    from hwdrivers.conductor import manager as manager_mod
    group = conf.conductor.conductor_group
    if group and not manager_mod._GROUP.match(group):
        raise exception.ConfigInvalid(
            "[conductor] conductor_group = %r: use at most 255 ASCII letters and digits, "
            "'.', '-' and '_', as a node's conductor_group (empty: the default group)"
            % group[:80],
            option="[conductor] conductor_group")


def check_rpc_bind(conf=CONF):
    group = conf.json_rpc
    if group.auth_strategy == "noauth" and not network.is_loopback(group.host_ip):
        raise exception.ConfigInvalid(
            "[json_rpc] host_ip = %s is not a loopback address, and [json_rpc] "
            "auth_strategy = noauth would let anyone who reaches it power machines "
            "off; set auth_strategy = http_basic with http_basic_auth_user_file, or "
            "bind 127.0.0.1" % group.host_ip, option="[json_rpc] host_ip")


def check_advertise_host(conf=CONF):
    """ConfigInvalid unless ``[json_rpc] advertise_host`` is a bare host name or address.

    It becomes ``http://<host>:<port>`` in the conductors row; a scheme, a
    port or a path in it made a URL no API process could call (each
    request for the conductor's nodes failed with an internal error), and a
    wildcard address is where it listens, not where it is reached.
    """
    host = conf.json_rpc.advertise_host
    if not host:
        return
    if not network.is_advertisable(host):
        raise exception.ConfigInvalid(
            "[json_rpc] advertise_host = %r: give the host name or IP address the API "
            "machines reach this conductor at, without scheme, port or path (e.g. "
            "cond-03.example or 10.0.1.13; the port is [json_rpc] port)" % host[:80],
            option="[json_rpc] advertise_host")


def advertised_url(server, conf=CONF):
    """The URL API processes reach ``server`` (a waitress server) at."""
    host = conf.json_rpc.advertise_host
    if not host:
        host = conf.json_rpc.host_ip
        if host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()
    if ":" in host:
        host = "[%s]" % host
    return "http://%s:%d" % (host, int(server.effective_port))


#: Seconds to wait for a conductor recorded under this host name to answer.
PROBE_TIMEOUT = 3.0


def _conductor_answers(url, timeout=PROBE_TIMEOUT):
    """True when an hwdrivers-conductor JSON-RPC listener answers at ``url``."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return (response.getheader("Server") or "").startswith(PROG)
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        conn.close()


def check_unique_host(service, conf=CONF):
    """ConfigInvalid when a live conductor already runs under this ``[DEFAULT] host``.

    Starting would take that conductor for a previous life of this one: its
    locks would be released and its running operations marked aborted
    (``ConductorService.recover``), and two processes would then answer for
    one place on the ring. A previous life that crashed or was killed still
    has a fresh row for up to ``heartbeat_timeout``; it is told apart by its
    recorded JSON-RPC URL no longer answering as an hwdrivers-conductor.
    """
    from hwdrivers.conductor import hash_ring
    from hwdrivers.db import api as db_api
    try:
        row = db_api.get_conductor(service.hostname)
    except exception.ConductorNotFound:
        return
    url = row.get("rpc_url")
    if (not url or url == service.rpc_url
            or not hash_ring.is_alive(row, timeout=conf.conductor.heartbeat_timeout)
            or not _conductor_answers(url)):
        return
    raise exception.ConfigInvalid(
        "a conductor with [DEFAULT] host = %s is already running and answering at %s "
        "(last heartbeat %s UTC); starting another one under the same name would release "
        "its locks and abort its operations. Give each conductor a unique [DEFAULT] "
        "host, or stop that one first." % (service.hostname, url,
                                           row["updated_at"].isoformat(" ", "seconds")),
        option="[DEFAULT] host")


def _address_throttle():
    """A login throttle for the JSON-RPC listener, per client address only.

    Every API process logs in as the one ``[json_rpc] http_basic_username``,
    so the API's per-user record let one API process with a stale password,
    or anyone reaching the port who knows that user name, lock every API
    process out of this conductor (HTTP 429). Per address, a source only
    throttles itself; the password is a machine credential, which guesses
    spread over many addresses do not find either.
    """
    from hwdrivers.api import auth

    class AddressThrottle(auth.Throttle):
        KINDS = ("address",)

        def _sources(self, user, address):
            return (("address", address[:auth.KEY_CHARS]),)

    return AddressThrottle()


def rpc_server(service, conf=CONF):
    """The JSON-RPC listener serving ``service``'s manager (not yet running)."""

    from hwdrivers.api import auth
    from hwdrivers.cmd import server as server_mod
    from hwdrivers.conductor import rpc
    from hwdrivers.conductor import rpc_api

    app = rpc.make_app(rpc_api.ConductorEndpoint(service.manager), rpc_api.ROUTED,
                       before_call=service.check_can_act, hostname=service.hostname)
    if conf.json_rpc.auth_strategy == "http_basic":
        app = auth.BasicAuthMiddleware(
            app, conf.json_rpc.http_basic_auth_user_file, throttle=_address_throttle(),
            user_file_option="[json_rpc] http_basic_auth_user_file",
            strategy_option="[json_rpc] auth_strategy", service="JSON-RPC")
    return server_mod._listen(
        "[json_rpc] host_ip/port", server_mod.waitress_server, app,
        host=conf.json_rpc.host_ip, port=conf.json_rpc.port,
        threads=max(8, 2 * conf.api.threads), ident="hwdrivers-conductor",
        threads_option="[api] threads (the JSON-RPC listener has twice as many)")


def serve(argv):
    startup.load_config(argv, PROG)
    check_host(CONF)
    check_group(CONF)
    check_rpc_bind(CONF)
    check_advertise_host(CONF)
    require_postgresql(PROG)
    from hwdrivers.conductor import service as service_mod
    startup.prepare_database()
    stop = startup.stop_event()

    service = service_mod.ConductorService(conf=CONF, partitioned=True)
    listener = rpc_server(service, CONF)  # bound before registering, like the server
    service.rpc_url = advertised_url(listener, CONF)
    try:
        startup.claim_host(PROG)
        check_unique_host(service, CONF)  # a holder whose lock session was lost
        service.start()
    except BaseException:
        listener.close()
        raise
    thread = threading.Thread(target=listener.run, name="waitress-json-rpc", daemon=True)
    thread.start()
    from hwdrivers.cmd import server as server_mod
    startup.say("%s: %s (group %r) serving JSON-RPC on %s" % (
        PROG, service.hostname, service.group, service.rpc_url))
    return startup.run_until_stopped(
        PROG, stop, lambda: server_mod.close_listener(listener, thread), service.stop,
        service=service)


def main(argv=None):
    return startup.run(PROG, serve, argv)


if __name__ == "__main__":
    sys.exit(main())
