"""Configuration: one module per option group, all registered on ``CONF``."""

from oslo_config import cfg

from hwdrivers.conf import api
from hwdrivers.conf import conductor
from hwdrivers.conf import database
from hwdrivers.conf import command
from hwdrivers.conf import console
from hwdrivers.conf import default
from hwdrivers.conf import deploy
from hwdrivers.conf import external
from hwdrivers.conf import fake
from hwdrivers.conf import hardware_type
from hwdrivers.conf import ipmi
from hwdrivers.conf import json_rpc
from hwdrivers.conf import pdudaemon
from hwdrivers.conf import redfish
from hwdrivers.conf import secrets
from hwdrivers.conf import snmp

CONF = cfg.CONF

default.register_opts(CONF)
api.register_opts(CONF)
conductor.register_opts(CONF)
database.register_opts(CONF)
fake.register_opts(CONF)
deploy.register_opts(CONF)
pdudaemon.register_opts(CONF)
secrets.register_opts(CONF)
json_rpc.register_opts(CONF)
for _module in (ipmi, redfish, snmp, command, external, console):
    _module.register_opts(CONF)

register_hardware_type_group = hardware_type.register_group


def check_values(conf=CONF):
    """Read every registered option once, so a bad value fails at start-up.

    oslo.config converts values lazily; without this a typo in a rarely
    used option would surface in the middle of an operation. Raises
    ``cfg.ConfigFileValueError`` naming the group and option.
    """
    for group_name in [None] + sorted(conf.keys()):
        if group_name is None:
            names = [k for k in conf.keys()
                     if not isinstance(getattr(conf, k, None), cfg.ConfigOpts.GroupAttr)]
            group = conf
        else:
            group = getattr(conf, group_name)
            if not isinstance(group, cfg.ConfigOpts.GroupAttr):
                continue
            names = list(group.keys())
        for name in names:
            try:
                getattr(group, name)
            except (cfg.ConfigFileValueError, ValueError) as exc:
                raise cfg.ConfigFileValueError(
                    "[%s] %s: %s" % (group_name or "DEFAULT", name, exc)) from None
