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

import base64
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


def url_label(url: str) -> str:
    """``url`` without user:password, query or fragment: safe to log and show."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (":%d" % port if port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@functools.cache
def _opener():
    """urllib, imported on the first check: every process that loads the
    drivers imports this module, and the CLI must not pay for ssl there."""
    from urllib import request
    return request.build_opener(request.ProxyHandler({}))


def _head(url: str):
    """HEAD ``url``, its ``user:password@`` sent as Basic authentication (as the
    agent sends it), on this request only: never to a server it redirects to."""
    from urllib import request as url_request

    parts = urllib.parse.urlsplit(url)
    request = url_request.Request(
        urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])),
        method="HEAD", headers={"User-Agent": "hwdrivers-conductor"})
    if parts.username is not None:
        pair = "%s:%s" % (urllib.parse.unquote(parts.username),
                          urllib.parse.unquote(parts.password or ""))
        request.add_unredirected_header(
            "Authorization", "Basic " + base64.b64encode(pair.encode()).decode("ascii"))
    return request


def refusal(url: str, timeout: float) -> str | None:
    """Why the agent could not fetch ``url``, if its server says so; else None.

    ``timeout`` bounds the request (0: no check). Redirects are followed,
    as the agent follows them.
    """
    if timeout <= 0 or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return None
    from http import client
    from urllib import error as url_error

    try:
        request = _head(url)
        with _opener().open(request, timeout=timeout):
            return None
    except url_error.HTTPError as error:
        error.close()
        why = DEFINITIVE.get(error.code)
        if why is None:
            LOG.debug("HEAD %s answered %s; left to the agent", url_label(url), error.code)
            return None
        return "the image server answered HEAD %s with %d %s: it %s" % (
            url_label(url), error.code, error.reason, why)
    except (url_error.URLError, OSError, ValueError, client.HTTPException) as error:
        LOG.info("Could not check image %s from the conductor (%s); the agent will try "
                 "it", url_label(url), getattr(error, "reason", None) or error)
        return None
