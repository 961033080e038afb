"""``hwdrivers-api``: a stateless REST API process of a scaled-out deployment.

    hwdrivers-api [--config-file F] [--host HOST] [--port PORT]

The same API as ``hwdrivers-server`` (auth, metrics, limits; ``--host`` and
``--port`` override ``[api] host``/``port``), with no conductor inside:
reads and records are served from PostgreSQL here, and every action goes to
the conductor owning the node on its group's hash ring over JSON-RPC
(conductor/rpc_api.py). Run as many as you like behind a load balancer; it
keeps no state between requests. SQLite is refused, for the reason
cmd/conductor.py gives.
"""

import logging
import sys

from hwdrivers import conf as hw_conf
from hwdrivers.cmd import conductor as conductor_cmd
from hwdrivers.cmd import server as server_mod
from hwdrivers.cmd import startup
from hwdrivers.common import exception

CONF = hw_conf.CONF
PROG = "hwdrivers-api"
LOG = logging.getLogger(PROG)

USAGE = "%s [-h] [--config-file PATH] [--config-dir DIR] [--host HOST] [--port PORT]" % PROG


def check_rpc_timeout(conf=CONF):
    """ConfigInvalid unless ``[json_rpc] timeout`` outlasts the conductors' hardware waits.

    A synchronous hardware call (boot device, sensors, NMI) waits up to
    ``[api] hardware_call_timeout`` in the conductor, which then answers 504.
    An API process that gives up first takes the owner for a silent one: the
    request gets 503 "does not answer", and for the next few seconds every
    other node of that conductor is refused at once too -- one slow BMC
    would stop a conductor's whole share of the fleet.
    """
    from hwdrivers.conductor import rpc_api
    timeout, hardware = conf.json_rpc.timeout, conf.api.hardware_call_timeout
    if timeout < hardware + rpc_api.ANSWER_MARGIN:
        raise exception.ConfigInvalid(
            "[json_rpc] timeout = %gs does not outlast [api] hardware_call_timeout = "
            "%gs: a slow hardware call would be taken for a conductor that does not "
            "answer, and that conductor's other nodes refused for a while. Set "
            "[json_rpc] timeout to at least %gs (hardware_call_timeout + %gs), or lower "
            "hardware_call_timeout" % (timeout, hardware, hardware + rpc_api.ANSWER_MARGIN,
                                       rpc_api.ANSWER_MARGIN),
            option="[json_rpc] timeout")


class ApiService:
    """What the API app needs from a service: ``.manager``, routing to conductors."""

    def __init__(self, conf=CONF):
        from hwdrivers.conductor import rpc_api
        self.conf = conf
        self.manager = rpc_api.RoutingManager(conf=conf)

    def start(self):
        self.manager.rings.refresh()

    def stop(self, timeout=None):
        return True


def serve(argv):
    server_mod.load_config(argv, prog=PROG, usage=USAGE)
    server_mod.check_bind(CONF)
    check_rpc_timeout(CONF)
    conductor_cmd.check_host(CONF)  # it names the locks taken for record updates
    from hwdrivers.conductor import task_manager
    task_manager.own_leases_as("api")  # not released by a conductor of the same host
    conductor_cmd.require_postgresql(PROG)
    startup.prepare_database()  # node views and ring keys compose nodes here too
    stop = startup.stop_event()

    service = ApiService(CONF)
    server = server_mod.Server(service, CONF)
    service.start()
    server.start()
    startup.announce(PROG, server)
    return startup.run_until_stopped(PROG, stop, server.close)


def main(argv=None):
    return startup.run(PROG, serve, argv)


if __name__ == "__main__":
    sys.exit(main())
