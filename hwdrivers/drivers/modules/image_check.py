"""A look at the image URL before a deploy power-cycles the machine.

Ironic's direct deploy sends ``HEAD`` to an http(s) ``image_source`` when it
validates a node. Without it, an image that is not there is found by the
agent only after a power cycle and a ramdisk boot: seconds in the
simulator, many minutes on real hardware, for every node of a fleet deploy
given a mistyped URL.

Only a definitive answer from the image's server fails the deploy: the
image is not there (404, 410) or not for us (401, 403). Anything else is
left to the agent, which may see what the conductor cannot: a server that
does not answer ``HEAD`` (405, 501...), a provisioning network the
conductor is not on, a certificate only the ramdisk trusts, a proxy of its
own. The check must never refuse an image the agent could fetch. The
request goes straight to the server (no proxy from the environment) and the
URL is named without its credentials or query, which may hold a token.
"""

import functools
import logging
import urllib.parse

LOG = logging.getLogger(__name__)

#: Status codes that say the agent would fail too, and why.
DEFINITIVE = {
    401: "needs credentials the URL does not carry",
    403: "refuses access",
    404: "has no such file",
    410: "has removed it",
}


@functools.cache
def _opener():
    """urllib, imported on the first check: every process that loads the
    drivers imports this module, and the CLI must not pay for ssl there.

    Redirects are followed as the agent follows them: to http(s) only (urllib
    alone would open an ``ftp://`` one from the conductor).
    """
    from urllib import request

    from hwdrivers.agent import fetch
    return request.build_opener(request.ProxyHandler({}), fetch.HTTPRedirectsOnly)


def refusal(url: str, timeout: float) -> str | None:
    """Why the agent could not fetch ``url``, if its server says so; else None.

    ``timeout`` bounds the request (0: no check). Redirects are followed,
    as the agent follows them.
    """
    if timeout <= 0 or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return None
    from http import client
    from urllib import error as url_error

    from hwdrivers.agent import fetch  # the agent's request, credentials and all
    try:
        request = fetch.request_for(url, method="HEAD", user_agent="hwdrivers-conductor")
        with _opener().open(request, timeout=timeout):
            return None
    except url_error.HTTPError as error:
        error.close()
        why = DEFINITIVE.get(error.code)
        if why is None:
            LOG.debug("HEAD %s answered %s; left to the agent", fetch.redact(url), error.code)
            return None
        return "the image server answered HEAD %s with %d %s: it %s" % (
            fetch.redact(url), error.code, error.reason, why)
    except (url_error.URLError, OSError, ValueError, client.HTTPException) as error:
        LOG.info("Could not check image %s from the conductor (%s); the agent will try "
                 "it", fetch.redact(url), getattr(error, "reason", None) or error)
        return None
