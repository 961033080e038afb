"""driver_info keys that no interface of a node declares: refused, or a warning.

``--driver-info ipmi_user=admin`` (for ``ipmi_username``) would be stored,
``validate`` would pass, and the node would log in as the anonymous user.
So node create and update refuse a key that the node's composed schema
(every interface's declaration for *this* node's driver_info, so the
external and command drivers' node-dependent fields count) does not
declare, listing the valid keys with a did-you-mean. ``[api]
unknown_driver_info = warn`` relaxes it to a logged warning, for nodes moved
from Ironic that carry fields hwdrivers does not read.

Only keys the request adds or changes are checked: a node that already
holds such keys (enrolled in ``warn`` mode) can still be renamed.
"""

import logging

from oslo_config import cfg

from hwdrivers.common import exception

CONF = cfg.CONF
LOG = logging.getLogger(__name__)


def changed_keys(new_info, old_info):
    """Keys of ``new_info`` absent from, or different in, ``old_info``."""
    old_info = old_info or {}
    return [k for k, v in (new_info or {}).items() if k not in old_info or old_info[k] != v]


def check(schema, new_info, old_info=None, node=None):
    """Refuse (InvalidParameterValue) or warn about undeclared changed keys."""
    message = schema.undeclared_message(changed_keys(new_info, old_info))
    if message is None:
        return
    where = "Node %s: " % node if node else ""
    if CONF.api.unknown_driver_info == "warn":
        LOG.warning("%s%s; stored anyway because [api] unknown_driver_info = warn",
                    where, message)
        return
    raise exception.InvalidParameterValue(
        "%s%s. Remove or rename them (or set [api] unknown_driver_info = warn to "
        "store keys hwdrivers does not read)" % (where, message), errors=[message])
