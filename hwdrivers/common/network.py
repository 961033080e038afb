"""Small network facts the service needs in more than one place."""

import ipaddress


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
