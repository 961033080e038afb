"""Options for oslo-config-generator (entry point oslo.config.opts: hwdrivers)."""

from hwdrivers.conf import api
from hwdrivers.conf import command
from hwdrivers.conf import conductor
from hwdrivers.conf import console
from hwdrivers.conf import database
from hwdrivers.conf import default
from hwdrivers.conf import deploy
from hwdrivers.conf import external
from hwdrivers.conf import fake
from hwdrivers.conf import hardware_type
from hwdrivers.conf import inspector
from hwdrivers.conf import ipmi
from hwdrivers.conf import json_rpc
from hwdrivers.conf import pdudaemon
from hwdrivers.conf import redfish
from hwdrivers.conf import secrets
from hwdrivers.conf import snmp


def list_opts():
    return [
        ("DEFAULT", default.opts),
        ("api", api.opts),
        ("conductor", conductor.opts),
        ("database", database.opts),
        ("fake", fake.opts),
        ("deploy", deploy.opts),
        ("pdudaemon", pdudaemon.opts),
        ("secrets", secrets.opts),
        ("json_rpc", json_rpc.opts),
        ("ipmi", ipmi.opts),
        ("redfish", redfish.opts),
        ("snmp", snmp.opts),
        ("command", command.opts),
        ("external", external.opts),
        ("console", console.opts),
        ("inspector", inspector.opts),
    ] + hardware_type.list_opts()
