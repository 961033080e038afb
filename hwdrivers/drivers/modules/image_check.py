"""A look at the image URL before a deploy power-cycles the machine.

Ironic's direct deploy sends ``HEAD`` to an http(s) ``image_source`` when it
validates a node. Without it, an image that is not there is found by the
agent only after a power cycle and a ramdisk boot: seconds in the
simulator, many minutes on real hardware, for every node of a fleet deploy
given a mistyped URL.

Only a definitive answer from the image's server fails the deploy: the
image is not there (404, 410) or not for us (401, 403), said to ``HEAD``
and confirmed by a ``GET`` of one byte (a presigned S3 URL refuses
``HEAD``, its signature being for ``GET``, and serves the agent). Anything else is
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
        if error.code not in DEFINITIVE:
            LOG.debug("HEAD %s answered %s; left to the agent", fetch.redact(url), error.code)
            return None
        return _confirmed_by_get(url, timeout, error.code)
    except (url_error.URLError, OSError, ValueError, client.HTTPException) as error:
        _not_checked(url, error)
        return None


def _not_checked(url: str, error: Exception) -> None:
    from hwdrivers.agent import fetch
    LOG.info("Could not check image %s from the conductor (%s); the agent will try "
             "it", fetch.redact(url), getattr(error, "reason", None) or error)


def _confirmed_by_get(url: str, timeout: float, head_code: int) -> str | None:
    """The refusal of a ``HEAD`` answered ``head_code``, if a ``GET`` is refused too.

    A presigned S3 URL (and MinIO's, R2's, Ceph RGW's) signs its method:
    ``HEAD`` on a URL signed for ``GET`` is a 403, while the agent's ``GET``
    is served. That refusal alone failed every such deploy. So a refusal is
    confirmed with the agent's own request, a ``GET`` of the first byte
    (``Range: bytes=0-0``), closed once its status is in: only what the
    agent would be told fails the deploy.
    """
    from http import client
    from urllib import error as url_error

    from hwdrivers.agent import fetch
    request = fetch.request_for(url, method="GET", user_agent="hwdrivers-conductor")
    request.add_header("Range", "bytes=0-0")
    try:
        with _opener().open(request, timeout=timeout):
            LOG.info("HEAD %s answered %d but GET is served (a URL signed for GET); "
                     "left to the agent", fetch.redact(url), head_code)
            return None
    except url_error.HTTPError as error:
        error.close()
        why = DEFINITIVE.get(error.code)
        if why is None:
            LOG.debug("GET %s answered %s; left to the agent", fetch.redact(url), error.code)
            return None
        return "the image server answered HEAD and GET %s with %d %s: it %s" % (
            fetch.redact(url), error.code, error.reason, why)
    except (url_error.URLError, OSError, ValueError, client.HTTPException) as error:
        _not_checked(url, error)
        return None
