"""Small network facts the service needs in more than one place."""

import ipaddress
import re

#: A DNS host name: letters, digits, '-' and '_' in dot-separated labels.
_HOST_NAME = re.compile(r"^(?=.{1,253}\Z)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})"
                        r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?\Z")


def is_loopback(host):
    """True when ``host`` (an address or ``localhost``) is reachable only locally.

    Listeners that run without authentication (noauth API, the PDUDaemon
    endpoint) refuse anything else unless the operator says otherwise.
    """
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_advertisable(host):
    """True when ``host`` can be handed to others to connect to: a host name or
    a specific IP address, with no scheme, port or path, and not a wildcard."""
    try:
        return not ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return _HOST_NAME.match(host) is not None
